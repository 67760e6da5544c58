import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Kubectl } from "../../src/lib/kubectl.js";
import { spawnServer, waitReady, type ServerProcess } from "./inference.js";
import { fixtureModel } from "./fixture-model.js";

/**
 * Real Spillway servers standing in for a model's kwok pods: kwok runs no containers, so for every
 * Running pod of the model this starts the inference server on a loopback port, and a small router
 * serves each pod's /metrics at `http://127.0.0.1:PORT/{namespace}/{pod}/metrics`, the URL the operator's
 * load source is pointed at (`load.metricsUrl`). Load sent to a stand-in is what its pod reports.
 */
export interface StandIns {
  /** The operator's `load.metricsUrl`. */
  metricsUrl: string;
  /** The stand-in of a pod, once it is ready. */
  url(pod: string): string | undefined;
  pods(): string[];
  stop(): Promise<void>;
}

export async function podStandIns(opts: {
  kubectl: Kubectl;
  namespace: string;
  model: string;
  parallel: number;
}): Promise<StandIns> {
  const servers = new Map<string, { proc: ServerProcess; ready: boolean }>();
  const router: Server = createServer((req, res) => {
    const [, ns, pod] = (req.url ?? "").split("/");
    const s = ns === opts.namespace && pod ? servers.get(pod) : undefined;
    if (!s?.ready) return res.writeHead(404).end();
    fetch(`${s.proc.url}/metrics`)
      .then(async (r) => {
        res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "text/plain" });
        res.end(await r.text());
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((resolve) => router.listen(0, "127.0.0.1", resolve));
  const port = (router.address() as AddressInfo).port;
  const state = { stopped: false };

  const sync = async () => {
    const pods = await opts.kubectl.json<{
      items: { metadata: { name: string; deletionTimestamp?: string }; status: { phase?: string } }[];
    }>(["get", "pods", "-n", opts.namespace, "-l", `spillway.dev/model=${opts.model}`]);
    const running = new Set(
      pods.items
        .filter((p) => p.status.phase === "Running" && !p.metadata.deletionTimestamp)
        .map((p) => p.metadata.name),
    );
    for (const name of running) {
      if (servers.has(name)) continue;
      const proc = spawnServer(
        ["--model", fixtureModel(), "--parallel", String(opts.parallel), "--context-size", "512"],
        {
          SPILLWAY_LOG_LEVEL: "warn",
        },
      );
      const entry = { proc, ready: false };
      servers.set(name, entry);
      void waitReady(proc.url).then(
        () => (entry.ready = true),
        () => undefined,
      );
    }
    for (const [name, s] of servers) {
      if (running.has(name)) continue;
      s.proc.child.kill("SIGKILL");
      servers.delete(name);
    }
  };
  const loop = (async () => {
    while (!state.stopped) {
      await sync().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();

  return {
    metricsUrl: `http://127.0.0.1:${port}/{namespace}/{pod}/metrics`,
    url: (pod) => (servers.get(pod)?.ready ? servers.get(pod)!.proc.url : undefined),
    pods: () => [...servers.keys()],
    stop: async () => {
      state.stopped = true;
      await loop;
      for (const s of servers.values()) {
        s.proc.child.kill("SIGKILL");
        await s.proc.exit;
      }
      await new Promise((resolve) => router.close(resolve));
    },
  };
}

/**
 * Bounded load: `concurrency` clients send chat completions back to back to `url` until `stop()` is
 * called, `maxRequests` have been sent or `maxSeconds` have passed, whichever comes first.
 */
export function steadyLoad(
  url: string,
  opts: { concurrency: number; maxRequests: number; maxSeconds: number },
) {
  let sent = 0;
  let failed = 0;
  const state = { stopped: false };
  const deadline = Date.now() + opts.maxSeconds * 1000;
  const controller = new AbortController();
  const client = async () => {
    while (!state.stopped && sent < opts.maxRequests && Date.now() < deadline) {
      sent++;
      try {
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "tiny-42",
            messages: [{ role: "user", content: "keep going" }],
            max_tokens: 256,
            temperature: 1,
            seed: sent,
          }),
          signal: controller.signal,
        });
        await res.arrayBuffer();
        if (!res.ok) failed++;
      } catch {
        if (!controller.signal.aborted) failed++;
      }
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, client));
  return {
    get sent() {
      return sent;
    },
    get failed() {
      return failed;
    },
    stop: async () => {
      state.stopped = true;
      controller.abort();
      await done;
    },
  };
}
