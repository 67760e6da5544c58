import { describe, expect, it } from "vitest";
import { parseGates, summarize, trippedGates, type Sample } from "../../../src/cli/load/report.js";
import { median, percentile } from "../../../src/lib/stats.js";

const ok = (latencyMs: number, extra: Partial<Sample> = {}): Sample => ({
  kind: "chat",
  stream: false,
  outcome: 200,
  latencyMs,
  tokens: 10,
  ...extra,
});
const run = { url: "http://127.0.0.1:8080", model: "m", users: 2, durationSeconds: 10 };

describe("load report", () => {
  it("nearest-rank percentiles are observed values; the median of an even sample is the mean of the middle two", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile(xs, 100)]).toEqual([
      50, 95, 99, 100,
    ]);
    expect(percentile([7], 99)).toBe(7);
    expect(median([1, 2, 3, 10])).toBe(2.5);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });

  it("errors count in the rate and by status, but not in the latency percentiles or tokens", () => {
    const samples = [
      ok(100, { stream: true, ttftMs: 20 }),
      ok(200),
      ok(300, { kind: "completion" }),
      { ...ok(1), outcome: 429, tokens: 0 },
      { ...ok(5000), outcome: "timeout", tokens: 0 },
    ] satisfies Sample[];
    const r = summarize(samples, run);
    expect(r.requests).toEqual({
      total: 5,
      ok: 3,
      cancelled: 0,
      errors: 2,
      byStatus: { "200": 3, "429": 1, timeout: 1 },
      byKind: { "chat+stream": 1, chat: 3, completion: 1 },
    });
    expect(r.errorRate).toBe(0.4);
    expect(r.requestsPerSecond).toBe(0.5);
    expect(r.tokensPerSecond).toBe(3);
    expect(r.latencyMs).toEqual({ p50: 200, p95: 300, p99: 300, max: 300 });
    expect(r.ttftMs.p50).toBe(20);
  });

  it("a request the client cancelled on purpose is neither ok nor an error", () => {
    const r = summarize(
      [ok(100), { ...ok(20, { stream: true, ttftMs: 10 }), outcome: "cancelled", tokens: 0 }],
      run,
    );
    expect(r.requests).toMatchObject({ total: 2, ok: 1, cancelled: 1, errors: 0 });
    expect(r.errorRate).toBe(0);
    expect(r.latencyMs.max).toBe(100);
  });

  it("an empty run reports zeros, not NaN", () => {
    const r = summarize([], run);
    expect(r.errorRate).toBe(0);
    expect(r.latencyMs).toEqual({ p50: 0, p95: 0, p99: 0, max: 0 });
  });

  it("gates: parsed, tripped with the measured value, and a typo is named", () => {
    const gates = parseGates("p95_ms>250, error_rate>0.5,rps>=0.5");
    const r = summarize([ok(100), ok(300)], run);
    // rps is 0.2 and the error rate 0: only the latency gate trips.
    expect(trippedGates(r, gates)).toEqual(["p95_ms>250 (measured p95_ms=300)"]);
    expect(() => parseGates("p95>1")).toThrow(/unknown metric 'p95'/);
    expect(() => parseGates("p95_ms=1")).toThrow(/cannot read 'p95_ms=1'/);
  });
});
