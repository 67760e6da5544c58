import { ApiException, type V1Node, type V1Pod } from "@kubernetes/client-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { BurstPoolSpec } from "../../../src/api/burst-pool.js";
import { MODEL_LABEL, POOL_LABEL, TIER_LABEL } from "../../../src/api/labels.js";
import { createOperatorMetrics } from "../../../src/operator/metrics.js";
import { PoolController, type BurstPool } from "../../../src/operator/pools/controller.js";
import type { PoolsConfig } from "../../../src/operator/pools/decide.js";
import { take } from "../../fakes/calls.js";
import { FakeInterruptions, FakePoolDriver } from "../../fakes/pool-driver.js";
import { FakePoolKube } from "../../fakes/pool-kube.js";
import { inferenceModel, withBurst } from "../../helpers/inference-models.js";

/**
 * The BurstPool controller's rounds against a fake cloud and a fake cluster: what it reads is set up in
 * memory, `reconcile()` is called directly with a fake clock, and every write (cloud, nodes, pods, status,
 * Events) is asserted, so an unexpected one fails a test as a missing one does.
 */

const T0 = Date.UTC(2026, 0, 1, 12);
const QUEUE = "https://sqs.eu-central-1.amazonaws.com/000000000000/spot-aws-interruptions";
const config: PoolsConfig = {
  joinTimeoutMs: 60_000,
  backoffMs: 300_000,
  emptyNodeCooldownMs: 30_000,
  interruptionsToBackoff: 2,
  forceDrainAfterMs: 60_000,
};
const metrics = createOperatorMetrics();

function burstPool(name: string, over: Partial<BurstPoolSpec> = {}): BurstPool {
  return {
    apiVersion: "spillway.dev/v1alpha1",
    kind: "BurstPool",
    metadata: { name, uid: `uid-${name}`, generation: 1 },
    spec: {
      provider: "aws",
      region: "eu-central-1",
      group: `g-${name}`,
      nodeCapacity: { cpu: "8", memory: "32Gi" },
      minNodes: 0,
      maxNodes: 4,
      hourlyPriceUsd: 0.2,
      ...over,
    },
  };
}

function node(name: string, pool: string, instanceId: string): V1Node {
  return {
    metadata: { name, labels: { [TIER_LABEL]: "burst", [POOL_LABEL]: pool } },
    spec: { providerID: `aws:///eu-central-1a/${instanceId}` },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

/** A burst pod of model m: on a node, or (without one) one the scheduler could not place. */
function burstPod(name: string, at: { node?: string; deletionTimestamp?: number } = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace: "ns",
      labels: { [MODEL_LABEL]: "m", [TIER_LABEL]: "burst" },
      ...(at.deletionTimestamp ? { deletionTimestamp: new Date(at.deletionTimestamp) } : {}),
    },
    spec: {
      ...(at.node ? { nodeName: at.node } : {}),
      containers: [{ name: "server", resources: { requests: { cpu: "2", memory: "4Gi" } } }],
    },
    status: at.node
      ? { phase: "Running" }
      : {
          phase: "Pending",
          conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }],
        },
  };
}

/** One pool, spot-aws, for model m's burst; the clock at T0. */
function setup(pools: BurstPool[] = [burstPool("spot-aws")]) {
  let now = T0;
  const kube = new FakePoolKube();
  kube.burstPools = pools;
  kube.models.set("ns/m", inferenceModel("m", withBurst(4, ["spot-aws", "spot-gcp"])));
  const aws = new FakePoolDriver();
  const gcp = new FakePoolDriver();
  const queue = new FakeInterruptions();
  const logs: { level: number; msg: string; pool?: string; err?: string }[] = [];
  const controller = new PoolController({
    drivers: { aws, gcp },
    interruptions: queue,
    config,
    intervalSeconds: 5,
    log: pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line) as never) }),
    metrics,
    view: kube,
    writer: kube,
    now: () => now,
  });
  return {
    kube,
    aws,
    gcp,
    queue,
    logs,
    spec: (name = "spot-aws") => kube.burstPools.find((p) => p.metadata.name === name)?.spec,
    status: (name = "spot-aws") => kube.burstPools.find((p) => p.metadata.name === name)?.status,
    /** A round at T0 + ms. */
    round: (ms: number) => {
      now = T0 + ms;
      return controller.reconcile();
    },
    /**
     * What was written since the last look: the clouds' changes, node and pod writes, the pools whose
     * status was written, and Events as `type reason: message`.
     */
    written: () => {
      const { patchPoolStatus, event, ...nodesAndPods } = take(kube.calls);
      const cloud = (c: FakePoolDriver) => take(c.calls, ["describe"]);
      const [a, g] = [cloud(aws), cloud(gcp)];
      return {
        ...(Object.keys(a).length ? { aws: a } : {}),
        ...(Object.keys(g).length ? { gcp: g } : {}),
        ...nodesAndPods,
        ...(patchPoolStatus ? { status: patchPoolStatus.map(([name]) => name) } : {}),
        ...(event ? { events: event.map(([, e]) => `${e.type} ${e.reason}: ${e.message}`) } : {}),
      };
    },
  };
}

describe("BurstPool controller rounds", () => {
  it("a pending burst pod raises its pool's desired size, once", async () => {
    const w = setup();
    w.aws.groups.set("g-spot-aws", { desired: 0, instances: [] });
    w.kube.podList = [burstPod("m-burst-1")];

    await w.round(0);
    expect(w.written()).toEqual({
      aws: { setDesired: [[w.spec(), 1]] },
      status: ["spot-aws"],
      events: ["Normal ScaleUp: desired nodes 0 → 1 for 1 pending burst pod(s)"],
    });
    expect(w.status()).toEqual({
      observedGeneration: 1,
      desiredNodes: 1,
      currentNodes: 0,
      readyNodes: 0,
      hourlySpendUsd: 0,
      conditions: [
        {
          type: "Available",
          status: "True",
          reason: "Delivering",
          message: "the pool takes new demand",
          observedGeneration: 1,
          lastTransitionTime: "2026-01-01T12:00:00Z",
        },
      ],
    });

    // The node asked for is on its way: the pod waits for it, and nothing is written again.
    await w.round(5_000);
    expect(w.written()).toEqual({});
  });

  it("an interruption notice cordons the node, evicts its pods and asks a replacement; the empty instance goes with the group's size", async () => {
    const w = setup([burstPool("spot-aws", { interruptionQueue: QUEUE })]);
    w.aws.groups.set("g-spot-aws", { desired: 1, instances: [{ id: "i-1", state: "running" }] });
    w.kube.nodeList = [node("n1", "spot-aws", "i-1")];
    w.kube.podList = [burstPod("m-burst-1", { node: "n1" })];
    w.queue.queues.set(QUEUE, [{ instanceId: "i-1", kind: "interruption-warning" }]);

    await w.round(0);
    expect(w.written()).toEqual({
      aws: { setDesired: [[w.spec(), 2]] },
      cordonNode: [["n1"]],
      evictPod: [["ns", "m-burst-1"]],
      status: ["spot-aws"],
      events: ["Normal ScaleUp: desired nodes 1 → 2 for 1 pending burst pod(s)"],
    });
    expect(w.status()?.conditions).toMatchObject([
      { type: "Available", status: "True" },
      { type: "InterruptionsRead", status: "True", reason: "Reading" },
    ]);

    // The evicted pod is gone and its replacement waits for the node asked for.
    w.kube.podList = [burstPod("m-burst-2")];
    await w.round(5_000);
    expect(w.written()).toEqual({
      aws: { terminate: [[w.spec(), "i-1"]] },
      status: ["spot-aws"],
    });
    expect(w.status()).toMatchObject({ desiredNodes: 1, readyNodes: 0 });
    expect(w.aws.groups.get("g-spot-aws")).toEqual({ desired: 1, instances: [] });
  });

  it("a pod its disruption budget will not let go is deleted once the notice has run for forceDrainAfter", async () => {
    const w = setup([burstPool("spot-aws", { interruptionQueue: QUEUE })]);
    w.aws.groups.set("g-spot-aws", { desired: 1, instances: [{ id: "i-1", state: "running" }] });
    w.kube.nodeList = [node("n1", "spot-aws", "i-1")];
    w.kube.podList = [burstPod("m-burst-1", { node: "n1" })];
    w.queue.queues.set(QUEUE, [{ instanceId: "i-1", kind: "interruption-warning" }]);
    w.kube.calls.evictPod.failNext(new ApiException(429, "Too Many Requests", {}, {}), 2);

    await w.round(0);
    expect(w.written()).toMatchObject({ cordonNode: [["n1"]], evictPod: [["ns", "m-burst-1"]] });
    expect(w.logs.filter((l) => l.msg === "eviction refused")).toHaveLength(1);

    // Still refused late in the notice: deleted, with its grace period. Nothing else changes but the
    // ready count, now that the node is cordoned.
    await w.round(60_000);
    expect(w.written()).toEqual({
      evictPod: [["ns", "m-burst-1"]],
      deletePod: [["ns", "m-burst-1"]],
      status: ["spot-aws"],
    });
    expect(w.status()).toMatchObject({ readyNodes: 0 });
  });

  it("an empty node is cordoned and its instance removed once empty for the cooldown", async () => {
    const w = setup();
    w.aws.groups.set("g-spot-aws", { desired: 1, instances: [{ id: "i-1", state: "running" }] });
    w.kube.nodeList = [node("n1", "spot-aws", "i-1")];

    await w.round(0);
    expect(w.written()).toEqual({ status: ["spot-aws"] });
    expect(w.status()).toMatchObject({
      desiredNodes: 1,
      currentNodes: 1,
      readyNodes: 1,
      hourlySpendUsd: 0.2,
    });

    await w.round(config.emptyNodeCooldownMs - 1);
    expect(w.written()).toEqual({});

    await w.round(config.emptyNodeCooldownMs);
    expect(w.written()).toEqual({
      aws: { terminate: [[w.spec(), "i-1"]] },
      cordonNode: [["n1"]],
      status: ["spot-aws"],
      events: ["Normal NodeRemoved: n1 (i-1) was empty for 30s"],
    });
    expect(w.status()).toMatchObject({ desiredNodes: 0 });
  });

  it("a terminating pod keeps its node until its grace period is up", async () => {
    const w = setup();
    w.aws.groups.set("g-spot-aws", { desired: 1, instances: [{ id: "i-1", state: "running" }] });
    w.kube.nodeList = [node("n1", "spot-aws", "i-1")];
    // Deleted at T0 with a 60 s grace period: it is still finishing its streams.
    w.kube.podList = [burstPod("m-burst-1", { node: "n1", deletionTimestamp: T0 + 60_000 })];

    await w.round(0);
    expect(w.written()).toEqual({ status: ["spot-aws"] });
    await w.round(config.emptyNodeCooldownMs);
    expect(w.written()).toEqual({});

    // Past its grace period the pod counts no more: the node is empty from then, for the cooldown.
    await w.round(60_000);
    expect(w.written()).toEqual({});
    await w.round(60_000 + config.emptyNodeCooldownMs);
    expect(w.written()).toMatchObject({ aws: { terminate: [[w.spec(), "i-1"]] }, cordonNode: [["n1"]] });
  });

  it("a group that cannot be read makes the pool unavailable with one Event, and available again once it can", async () => {
    const w = setup();
    w.aws.groups.set("g-spot-aws", { desired: 0, instances: [] });
    w.aws.calls.describe.failNext(new Error("AccessDenied: not authorized"), 2);

    await w.round(0);
    expect(w.written()).toEqual({
      status: ["spot-aws"],
      events: ["Warning GroupUnreadable: aws g-spot-aws: AccessDenied: not authorized"],
    });
    expect(w.status()?.conditions).toEqual([
      {
        type: "Available",
        status: "False",
        reason: "GroupUnreadable",
        message: "aws g-spot-aws: AccessDenied: not authorized",
        observedGeneration: 1,
        lastTransitionTime: "2026-01-01T12:00:00Z",
      },
    ]);

    // The same error again: nothing new to say.
    await w.round(5_000);
    expect(w.written()).toEqual({});

    await w.round(10_000);
    expect(w.written()).toEqual({
      status: ["spot-aws"],
      events: ["Normal Available: the pool takes new demand again"],
    });
    expect(w.status()?.conditions).toMatchObject([
      { type: "Available", status: "True", reason: "Delivering", lastTransitionTime: "2026-01-01T12:00:10Z" },
    ]);
  });

  it("while a pool's group cannot be read, its demand goes to the model's next pool", async () => {
    const w = setup([
      burstPool("spot-aws"),
      burstPool("spot-gcp", { provider: "gcp", project: "spillway-test" }),
    ]);
    w.aws.calls.describe.failNext(new Error("AccessDenied: not authorized"));
    w.gcp.groups.set("g-spot-gcp", { desired: 0, instances: [] });
    w.kube.podList = [burstPod("m-burst-1")];

    await w.round(0);
    // The pools are carried out side by side: their writes come in no set order.
    const { status, events, ...rest } = w.written();
    expect(rest).toEqual({ gcp: { setDesired: [[w.spec("spot-gcp"), 1]] } });
    expect(status?.sort()).toEqual(["spot-aws", "spot-gcp"]);
    expect(events?.sort()).toEqual([
      "Normal ScaleUp: desired nodes 0 → 1 for 1 pending burst pod(s)",
      "Warning GroupUnreadable: aws g-spot-aws: AccessDenied: not authorized",
    ]);
  });

  it("a cloud error on raising the size is logged, nothing else is written, and the next round asks again", async () => {
    const w = setup();
    w.aws.groups.set("g-spot-aws", { desired: 0, instances: [] });
    w.aws.calls.setDesired.failNext(new Error("Throttling: Rate exceeded"));
    w.kube.podList = [burstPod("m-burst-1")];

    await w.round(0);
    expect(w.written()).toEqual({ aws: { setDesired: [[w.spec(), 1]] } });
    expect(w.logs.filter((l) => l.level >= 50)).toMatchObject([
      { msg: "pool action failed", pool: "spot-aws", err: "Error: Throttling: Rate exceeded" },
    ]);

    await w.round(5_000);
    expect(w.written()).toEqual({
      aws: { setDesired: [[w.spec(), 1]] },
      status: ["spot-aws"],
      events: ["Normal ScaleUp: desired nodes 0 → 1 for 1 pending burst pod(s)"],
    });
  });
});
