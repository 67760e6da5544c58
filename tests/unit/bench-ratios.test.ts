import { describe, expect, it } from "vitest";
import { compare, MIN_NOISE, record } from "../../src/lib/bench-ratios.js";

const run = (tps: number, ttft: number) => ({
  tps: { value: tps, better: "higher" as const },
  ttft: { value: ttft, better: "lower" as const },
});

describe("bench ratios", () => {
  it("records each ratio's median and its spread as noise, never below the floor", () => {
    const entries = record([run(1.0, 1.0), run(1.5, 1.01), run(1.2, 0.99)]);
    expect(entries.tps).toMatchObject({ value: 1.2, better: "higher", runs: [1.0, 1.5, 1.2] });
    expect(entries.tps?.noise).toBeCloseTo(0.5 / 1.2);
    expect(entries.ttft?.noise).toBe(MIN_NOISE);
  });

  it("passes a ratio within its noise, in either direction of better", () => {
    const baseline = record([run(1.0, 1.0)]);
    const verdicts = compare(baseline, run(0.95, 1.05));
    expect(verdicts.map((v) => v.ok)).toEqual([true, true]);
    expect(verdicts[0]?.worse).toBeCloseTo(0.05);
    expect(compare(baseline, run(2, 0.5)).every((v) => v.ok && v.worse < 0)).toBe(true);
  });

  it("fails a ratio worse by more than its noise, and one not measured", () => {
    const baseline = record([run(1.0, 1.0)]);
    expect(compare(baseline, run(0.8, 1.0)).map((v) => [v.name, v.ok])).toEqual([
      ["tps", false],
      ["ttft", true],
    ]);
    expect(compare(baseline, run(1.0, 1.25)).map((v) => v.ok)).toEqual([true, false]);
    const missing = compare(baseline, { tps: { value: 1, better: "higher" } });
    expect(missing[1]).toMatchObject({ name: "ttft", fresh: undefined, ok: false });
  });
});
