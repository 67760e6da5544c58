import { describe, expect, it } from "vitest";
import {
  decideScale,
  recommend,
  type PodLoad,
  type Recommendation,
} from "../../../src/operator/autoscale.js";
import type { InferenceModel } from "../../../src/api/inference-model.js";
import type { Scale } from "../../../src/operator/plan.js";
import { inferenceModel, withAutoscaling, withBase, withBurst } from "../../helpers/inference-models.js";

// base 1..2, burst up to 3; target 4 in-flight requests per replica; scale down after 30 s.
const model = inferenceModel(
  "m",
  withBase(1, 2),
  withBurst(3),
  withAutoscaling({ metric: "inFlight", target: 4, scaleDownStabilizationSeconds: 30 }),
);
const pod = (busy: number, queue = 0, name = "p"): PodLoad => ({
  pod: name,
  readable: true,
  busySlots: busy,
  queueDepth: queue,
  tokensPerSecond: 0,
});
const unreadable = (name: string): PodLoad => ({
  pod: name,
  readable: false,
  busySlots: 0,
  queueDepth: 0,
  tokensPerSecond: 0,
});

/** Runs a recorded load series, one sample every 5 s, and returns the scale after each. */
function run(
  series: PodLoad[][],
  opts: { m?: InferenceModel; unplacedBase?: number; burstLimit?: number; start?: Scale } = {},
) {
  let current = opts.start ?? { base: 1, burst: 0 };
  let history: Recommendation[] = [];
  return series.map((load, i) => {
    const d = decideScale({
      model: opts.m ?? model,
      current,
      load,
      history,
      unplacedBase: opts.unplacedBase ?? 0,
      burstLimit: opts.burstLimit ?? 3,
      now: i * 5000,
    });
    current = d.scale;
    history = d.history;
    return `${d.scale.base}+${d.scale.burst}`;
  });
}

describe("autoscaler", () => {
  it("fills the base first, then spills onto burst, at once on a step up", () => {
    expect(run([[pod(2)], [pod(4, 4)], [pod(4, 12)]])).toEqual(["1+0", "2+0", "2+2"]);
  });

  it("keeps burst.min burst replicas whatever the load, and never moves the base for them", () => {
    const floor = inferenceModel("m", withBase(1, 2), withBurst(3, ["spot-aws"], 1));
    expect(run([[pod(0)], [pod(0)]], { m: floor })).toEqual(["1+1", "1+1"]);
    const loaded = inferenceModel(
      "m",
      withBase(1, 2),
      withBurst(3, ["spot-aws"], 1),
      withAutoscaling({ metric: "inFlight", target: 4, scaleDownStabilizationSeconds: 0 }),
    );
    // Idle, the floor; load within the base, still one burst replica; load past the base, the load's.
    expect(run([[pod(0)], [pod(8)], [pod(4, 12)], [pod(0)]], { m: loaded })).toEqual([
      "1+1",
      "2+1",
      "2+2",
      "1+1",
    ]);
  });

  it("holds burst.min back under the spend limit, as any burst replica", () => {
    const floor = inferenceModel("m", withBurst(2, ["spot-aws"], 2));
    const d = decideScale({
      model: floor,
      current: { base: 1, burst: 0 },
      load: undefined,
      history: [],
      unplacedBase: 0,
      burstLimit: 1,
      now: 0,
    });
    expect(d.scale).toEqual({ base: 1, burst: 1 });
    expect(d.burstHeldBack).toBe(1);
  });

  it("caps a spike at base.max + burst.max", () => {
    expect(run([[pod(4, 60)]])).toEqual(["2+3"]);
  });

  it("drains burst first, and only after the scale-down window", () => {
    const high = [pod(4, 16)];
    const low = [pod(1)];
    // 0..10 s high: 2+3 (20 in flight / 4). Then low from 15 s: held while the high sample at 10 s is in
    // the 30 s window (up to 40 s), down at 45 s.
    const out = run([high, high, high, low, low, low, low, low, low, low, low, low]);
    expect(out.indexOf("1+0")).toBe(9);
    expect(out.slice(0, 9).every((s) => s === "2+3")).toBe(true);
    expect(out.slice(9).every((s) => s === "1+0")).toBe(true);
  });

  it("steps down gradually on a slow decline (burst goes before base)", () => {
    const series = [20, 16, 12, 8, 4].flatMap((inFlight) => Array(7).fill([pod(inFlight)]) as PodLoad[][]);
    const out = run(series);
    const distinct = out.filter((s, i) => i === 0 || s !== out[i - 1]);
    expect(distinct).toEqual(["2+3", "2+2", "2+1", "2+0", "1+0"]);
  });

  it("does not flap when load alternates within the window", () => {
    const series = Array.from({ length: 12 }, (_, i) => [pod(i % 2 ? 0 : 12)]);
    expect(new Set(run(series))).toEqual(new Set(["2+1"]));
  });

  it("counts unreadable pods as at target: neither idle nor full", () => {
    // One pod at target (4 in flight) and one that cannot be read: 2 replicas. Counted as idle it would
    // be 1, as full (all 4 slots and a queue) 3 or more.
    const load = [pod(4, 0, "a"), unreadable("b")];
    expect(recommend(model, load)).toBe(2);
    const d = decideScale({
      model,
      current: { base: 2, burst: 0 },
      load,
      history: [],
      unplacedBase: 0,
      burstLimit: 3,
      now: 0,
    });
    expect(d.unreadable).toBe(1);
    expect(d.scale).toEqual({ base: 2, burst: 0 });
  });

  it("after a restart (no history) waits a full window before scaling down", () => {
    const out = run(Array(8).fill([pod(0)]) as PodLoad[][], { start: { base: 2, burst: 2 } });
    // Samples every 5 s: held through 25 s, down at 30 s.
    expect(out.indexOf("1+0")).toBe(6);
    expect(out.slice(0, 6).every((s) => s === "2+2")).toBe(true);
  });

  it("keeps the scale when nothing could be sampled yet", () => {
    expect(run([[]], { start: { base: 2, burst: 1 } })).toEqual(["2+1"]);
  });

  it("sends base replicas that do not fit to burst at once, whatever the load", () => {
    expect(run([[pod(0)]], { unplacedBase: 1, start: { base: 1, burst: 0 } })).toEqual(["1+1"]);
  });

  it("holds burst at the limit (spend cap) and says how many were held back", () => {
    const d = decideScale({
      model,
      current: { base: 2, burst: 0 },
      load: [pod(4, 16)],
      history: [],
      unplacedBase: 0,
      burstLimit: 1,
      now: 0,
    });
    expect(d.scale).toEqual({ base: 2, burst: 1 });
    expect(d.burstHeldBack).toBe(2);
  });

  it("without autoscaling, keeps base.min and spills only what does not fit", () => {
    const m = inferenceModel("m", withBase(2, 3), withBurst(2));
    expect(run([[pod(8, 40)]], { m, start: { base: 2, burst: 0 } })).toEqual(["2+0"]);
    expect(run([[pod(0)]], { m, unplacedBase: 2, start: { base: 2, burst: 0 } })).toEqual(["2+2"]);
  });

  it("reads queueDepth and tokensPerSecond as the CRD says", () => {
    const q = inferenceModel("q", withBase(1, 4), withAutoscaling({ metric: "queueDepth", target: 2 }));
    expect(run([[pod(4, 6)]], { m: q })).toEqual(["3+0"]);
    const t = inferenceModel("t", withBase(1, 4), withAutoscaling({ metric: "tokensPerSecond", target: 50 }));
    expect(run([[{ ...pod(0), tokensPerSecond: 120 }]], { m: t })).toEqual(["3+0"]);
  });
});
