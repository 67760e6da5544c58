import { SERVER_METRICS, SERVER_PATHS, SERVER_PORT } from "../api/server.js";
import { parsePrometheusText, sumOf } from "../lib/prometheus-text.js";
import type { PodLoad } from "./autoscale.js";

/**
 * The autoscaler's load signal: each ready pod's own /metrics from the Spillway server (busy slots, queue
 * depth, generated tokens). A pod that does not answer in time is reported unreadable, never as idle.
 */

export interface PodTarget {
  namespace: string;
  name: string;
  ip: string;
}

/** Where a pod's metrics are read: `{podIP}`, `{port}`, `{namespace}` and `{pod}` are filled in. */
export const DEFAULT_METRICS_URL = `http://{podIP}:{port}${SERVER_PATHS.metrics}`;

export function metricsUrl(template: string, pod: PodTarget): string {
  return template
    .replaceAll("{podIP}", pod.ip.includes(":") ? `[${pod.ip}]` : pod.ip)
    .replaceAll("{port}", String(SERVER_PORT))
    .replaceAll("{namespace}", pod.namespace)
    .replaceAll("{pod}", pod.name);
}

export class MetricsScraper {
  /** The previous generated-token count per pod, for tokens per second. */
  private readonly previous = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly o: {
      urlTemplate: string;
      timeoutMs: number;
      now?: () => number;
    },
  ) {}

  async scrape(pod: PodTarget): Promise<PodLoad> {
    const key = `${pod.namespace}/${pod.name}`;
    const now = (this.o.now ?? Date.now)();
    try {
      const res = await fetch(metricsUrl(this.o.urlTemplate, pod), {
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const samples = parsePrometheusText(await res.text());
      if (!samples.some((s) => s.name === SERVER_METRICS.slotsBusy)) throw new Error("no slot metrics");
      const tokens = sumOf(samples, SERVER_METRICS.generatedTokens);
      const prev = this.previous.get(key);
      this.previous.set(key, { tokens, at: now });
      const seconds = prev ? (now - prev.at) / 1000 : 0;
      return {
        pod: pod.name,
        readable: true,
        busySlots: sumOf(samples, SERVER_METRICS.slotsBusy),
        queueDepth: sumOf(samples, SERVER_METRICS.queueDepth),
        tokensPerSecond: prev && seconds > 0 ? Math.max(0, tokens - prev.tokens) / seconds : 0,
        digest: samples.find((s) => s.name === SERVER_METRICS.modelInfo && s.value === 1)?.labels.sha256,
      };
    } catch {
      return { pod: pod.name, readable: false, busySlots: 0, queueDepth: 0, tokensPerSecond: 0 };
    }
  }

  /** Every pod at once, at most `concurrency` requests in flight. */
  async scrapeAll(pods: PodTarget[], concurrency = 32): Promise<PodLoad[]> {
    const out: PodLoad[] = new Array<PodLoad>(pods.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++, pod = pods[i]; pod; i = next++, pod = pods[i]) out[i] = await this.scrape(pod);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, pods.length) }, worker));
    return out;
  }

  /** Drop what is kept for pods that are gone. */
  forget(keep: Set<string>): void {
    for (const key of this.previous.keys()) if (!keep.has(key)) this.previous.delete(key);
  }
}
