import { percentile } from "../../lib/stats.js";

/**
 * What one load run measured, and the gates (`--fail-if`) that turn it into a check. Pure: the generator
 * records one Sample per request, and everything a user reads is computed here from those samples.
 */

export type RequestKind = "chat" | "completion";

export interface Sample {
  kind: RequestKind;
  stream: boolean;
  /**
   * HTTP status, "network" (no response), "timeout" (no complete answer in time), "stream_error" (an
   * error event in a stream that began with 200) or "cancelled" (the client left on purpose: not an error).
   */
  outcome: number | "network" | "timeout" | "stream_error" | "cancelled";
  /** Start to last byte. */
  latencyMs: number;
  /** Start to the first generated text; streamed requests only. */
  ttftMs?: number;
  /** Generated tokens as the server counted them (usage), 0 for an error. */
  tokens: number;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface LoadReport {
  url: string;
  model: string;
  users: number;
  durationSeconds: number;
  requests: {
    total: number;
    ok: number;
    /** Abandoned by the client on purpose (`cancelRatio`): neither ok nor an error. */
    cancelled: number;
    errors: number;
    /** Requests per outcome: "200", "429", "network", "timeout", … */
    byStatus: Record<string, number>;
    byKind: Record<string, number>;
  };
  errorRate: number;
  requestsPerSecond: number;
  tokensPerSecond: number;
  /** Successful requests only: an error that returns at once would flatter the percentiles. */
  latencyMs: Percentiles;
  ttftMs: Percentiles;
}

const round = (x: number, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : 0);

function percentiles(xs: number[]): Percentiles {
  return {
    p50: round(percentile(xs, 50)),
    p95: round(percentile(xs, 95)),
    p99: round(percentile(xs, 99)),
    max: round(xs.length ? Math.max(...xs) : 0),
  };
}

export const isOk = (s: Sample) => typeof s.outcome === "number" && s.outcome >= 200 && s.outcome < 300;

export function summarize(
  samples: readonly Sample[],
  run: { url: string; model: string; users: number; durationSeconds: number },
): LoadReport {
  const ok = samples.filter(isOk);
  const cancelled = samples.filter((s) => s.outcome === "cancelled").length;
  const errors = samples.length - ok.length - cancelled;
  const count = (key: (s: Sample) => string) => {
    const out: Record<string, number> = {};
    for (const s of samples) out[key(s)] = (out[key(s)] ?? 0) + 1;
    return out;
  };
  const seconds = Math.max(run.durationSeconds, 1e-3);
  return {
    ...run,
    durationSeconds: round(run.durationSeconds, 2),
    requests: {
      total: samples.length,
      ok: ok.length,
      cancelled,
      errors,
      byStatus: count((s) => String(s.outcome)),
      byKind: count((s) => `${s.kind}${s.stream ? "+stream" : ""}`),
    },
    errorRate: round(samples.length ? errors / samples.length : 0, 4),
    requestsPerSecond: round(samples.length / seconds, 2),
    tokensPerSecond: round(ok.reduce((sum, s) => sum + s.tokens, 0) / seconds, 1),
    latencyMs: percentiles(ok.map((s) => s.latencyMs)),
    ttftMs: percentiles(ok.flatMap((s) => (s.ttftMs === undefined ? [] : [s.ttftMs]))),
  };
}

/** The names `--fail-if` accepts, each read from a report. */
export const GATE_METRICS: Record<string, (r: LoadReport) => number> = {
  p50_ms: (r) => r.latencyMs.p50,
  p95_ms: (r) => r.latencyMs.p95,
  p99_ms: (r) => r.latencyMs.p99,
  ttft_p50_ms: (r) => r.ttftMs.p50,
  ttft_p95_ms: (r) => r.ttftMs.p95,
  ttft_p99_ms: (r) => r.ttftMs.p99,
  error_rate: (r) => r.errorRate,
  rps: (r) => r.requestsPerSecond,
  tokens_per_second: (r) => r.tokensPerSecond,
  requests: (r) => r.requests.total,
};

const COMPARE = {
  ">=": (a: number, b: number) => a >= b,
  "<=": (a: number, b: number) => a <= b,
  ">": (a: number, b: number) => a > b,
  "<": (a: number, b: number) => a < b,
} as const;

export interface Gate {
  text: string;
  metric: string;
  op: keyof typeof COMPARE;
  value: number;
}

/** Parses `p95_ms>2000,error_rate>0.01`; throws an Error naming the part it cannot read. */
export function parseGates(expr: string): Gate[] {
  return expr
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((text) => {
      const m = /^([a-z0-9_]+)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)$/.exec(text);
      if (!m) throw new Error(`cannot read '${text}': expected METRIC>VALUE, METRIC<VALUE, >= or <=`);
      const [, metric = "", op, value] = m;
      if (!(metric in GATE_METRICS)) {
        throw new Error(
          `unknown metric '${metric}' in '${text}': one of ${Object.keys(GATE_METRICS).join(", ")}`,
        );
      }
      return { text, metric, op: op as Gate["op"], value: Number(value) };
    });
}

/** The gates a report trips, each with the value that tripped it. */
export function trippedGates(report: LoadReport, gates: readonly Gate[]): string[] {
  return gates.flatMap((g) => {
    const actual = GATE_METRICS[g.metric]?.(report) ?? Number.NaN;
    return COMPARE[g.op](actual, g.value) ? [`${g.text} (measured ${g.metric}=${actual})`] : [];
  });
}

/** One line for a terminal: how the run is going. */
export function progressLine(
  samples: readonly Sample[],
  elapsedSeconds: number,
  activeUsers: number,
): string {
  const ok = samples.filter(isOk);
  const p95 = percentile(
    ok.map((s) => s.latencyMs),
    95,
  );
  const tokens = ok.reduce((sum, s) => sum + s.tokens, 0);
  const secs = Math.max(elapsedSeconds, 1e-3);
  return (
    `${elapsedSeconds.toFixed(0).padStart(4)}s users ${activeUsers} requests ${samples.length}` +
    ` errors ${samples.filter((s) => !isOk(s) && s.outcome !== "cancelled").length} ${(samples.length / secs).toFixed(1)} req/s` +
    ` ${(tokens / secs).toFixed(0)} tok/s p95 ${Number.isFinite(p95) ? p95.toFixed(0) : "-"} ms`
  );
}
