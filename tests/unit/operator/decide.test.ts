import { describe, expect, it } from "vitest";
import type { BurstPoolSpec } from "../../../src/api/burst-pool.js";
import { decideModel, isSubset, transitions } from "../../../src/operator/decide.js";
import { plan, type PlanConfig } from "../../../src/operator/plan.js";
import { burstLimit } from "../../../src/operator/spend.js";
import {
  inferenceModel,
  withAutoscaling,
  withBase,
  withBudget,
  withBurst,
  withServer,
} from "../../helpers/inference-models.js";

const config: PlanConfig = { defaultImage: "img", drainGraceSeconds: 30, modelCacheSize: "20Gi" };
const poolSpec = (hourlyPriceUsd: number, cpu = "8"): BurstPoolSpec => ({
  provider: "aws",
  region: "r",
  group: "g",
  nodeCapacity: { cpu, memory: "32Gi" },
  minNodes: 0,
  maxNodes: 10,
  hourlyPriceUsd,
});

describe("comparing planned and stored objects", () => {
  it("treats quantities the API server canonicalized as equal", () => {
    const m = inferenceModel("m", withServer({ resources: { requests: { cpu: 2, memory: "1024Mi" } } }));
    const [deployment] = plan(m, { base: 1, burst: 0 }, config);
    // What the API server returns: cpu 2 as "2", 1024Mi as "1Gi".
    const stored = JSON.parse(JSON.stringify(deployment));
    stored.spec.template.spec.containers[0].resources.requests = { cpu: "2", memory: "1Gi" };
    expect(isSubset(deployment, stored)).toBe(true);
    stored.spec.template.spec.containers[0].resources.requests.cpu = "3";
    expect(isSubset(deployment, stored)).toBe(false);
  });

  it("does not read other strings as quantities", () => {
    expect(isSubset({ env: [{ value: "1" }] }, { env: [{ value: "1.0" }] })).toBe(false);
  });
});

describe("spend cap", () => {
  const m = (cap?: number) =>
    inferenceModel(
      "m",
      withBurst(6, ["a", "b"]),
      withServer({ resources: { requests: { cpu: "4", memory: "4Gi" } } }),
      ...(cap === undefined ? [] : [withBudget(cap)]),
    );
  const pools = new Map([
    ["a", poolSpec(0.2)],
    ["b", poolSpec(0.5)],
  ]);

  it("allows burst.max without a cap", () => {
    expect(burstLimit(m(), pools)).toEqual({ limit: 6 });
  });

  it("allows what the cap pays for in whole nodes of the dearest pool", () => {
    // 1.0 $/h buys two nodes of b (0.5), each holding two 4-CPU replicas: 4.
    expect(burstLimit(m(1.0), pools)).toMatchObject({ limit: 4, reason: "SpendCapReached" });
    expect(burstLimit(m(0.4), pools)).toMatchObject({ limit: 0, reason: "SpendCapReached" });
  });

  it("allows nothing when none of the model's pools exists", () => {
    expect(burstLimit(m(), new Map())).toMatchObject({ limit: 0, reason: "NoBurstPool" });
  });
});

describe("one model's decision", () => {
  const model = inferenceModel("m", withBase(1, 1), withBurst(2, ["a"]), withAutoscaling({ target: 2 }));
  const base = { replicas: 1, readyReplicas: 1, updatedReplicas: 1, upToDate: true };
  const snapshot = (over: Partial<Parameters<typeof decideModel>[0]> = {}) => ({
    model,
    observed: { base, burst: { ...base, replicas: 0, readyReplicas: 0, updatedReplicas: 0 } },
    current: { base: 1, burst: 0 },
    cached: () => undefined,
    load: [{ pod: "p", readable: true, busySlots: 2, queueDepth: 4, tokensPerSecond: 0 }],
    history: [],
    pools: new Map([["a", poolSpec(0.2)]]),
    now: Date.parse("2026-01-01T00:00:00Z"),
    ...over,
  });

  it("applies the burst Deployment at the scale the load asks for and reports Bursting", () => {
    const d = decideModel(snapshot(), config);
    expect(d.scale).toEqual({ base: 1, burst: 2 });
    const burst = d.applies.find((o) => o.metadata.name === "m-burst") as any;
    expect(burst.spec.replicas).toBe(2);
    expect(
      burst.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        .nodeSelectorTerms[0].matchExpressions,
    ).toContainEqual({
      key: "spillway.dev/pool",
      operator: "In",
      values: ["a"],
    });
    expect(d.status?.conditions?.find((c) => c.type === "Bursting")).toMatchObject({ status: "True" });
    expect(d.status?.autoscaling).toEqual({ desiredReplicas: 3, unreadablePods: 0 });
  });

  it("says the base is full, with the scheduler's message, and spills", () => {
    const d = decideModel(
      snapshot({
        load: [],
        observed: {
          base: { ...base, readyReplicas: 0 },
          unplacedBase: { count: 1, message: "0/7 nodes are available: 3 Insufficient cpu." },
        },
      }),
      config,
    );
    expect(d.scale.burst).toBe(1);
    const progressing = d.status?.conditions?.find((c) => c.type === "Progressing");
    expect(progressing).toMatchObject({ reason: "BaseFull" });
    expect(progressing?.message).toMatch(/Insufficient cpu/);
    expect(d.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ reason: "BaseFull" });
  });

  it("says SpendCapReached when the cap allows no burst", () => {
    const capped = inferenceModel(
      "m",
      withBase(1, 1),
      withBurst(2, ["a"]),
      withAutoscaling({ target: 2 }),
      withBudget(0.1),
    );
    const d = decideModel(snapshot({ model: capped }), config);
    expect(d.scale.burst).toBe(0);
    expect(d.status?.conditions?.find((c) => c.type === "Bursting")).toMatchObject({
      status: "False",
      reason: "SpendCapReached",
    });
  });

  it("writes nothing when what is cached already matches", () => {
    const first = decideModel(snapshot(), config);
    const objects = new Map(first.applies.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
    const again = decideModel(
      snapshot({
        model: { ...model, status: first.status },
        current: first.scale,
        history: first.history,
        cached: (o) => objects.get(`${o.kind}/${o.metadata.name}`),
      }),
      config,
    );
    expect(again.applies).toEqual([]);
    expect(again.status).toBeUndefined();
  });
});

describe("events", () => {
  const c = (type: string, status: "True" | "False", reason = "R") => ({
    type,
    status,
    reason,
    message: "m",
    lastTransitionTime: "t",
  });
  it("records flips of Ready, Degraded and Bursting only, first Ready=True too", () => {
    expect(transitions([], [c("Ready", "True"), c("Bursting", "False")]).map((e) => e.reason)).toEqual(["R"]);
    expect(
      transitions(
        [c("Ready", "True"), c("Progressing", "False")],
        [c("Ready", "False", "BaseFull"), c("Progressing", "True")],
      ),
    ).toEqual([{ type: "Warning", reason: "BaseFull", message: "Ready is False: m" }]);
  });
});
