import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { BurstPoolSpec } from "../../../src/api/burst-pool.js";
import {
  decidePools,
  type PendingPod,
  type PoolInput,
  type PoolMemory,
  type PoolNode,
  type PoolsConfig,
} from "../../../src/operator/pools/decide.js";
import { shuttingDown, workloadByNode } from "../../../src/operator/pools/controller.js";

const config: PoolsConfig = {
  joinTimeoutMs: 60_000,
  backoffMs: 300_000,
  emptyNodeCooldownMs: 30_000,
  interruptionsToBackoff: 2,
  forceDrainAfterMs: 60_000,
};
const spec = (over: Partial<BurstPoolSpec> = {}): BurstPoolSpec => ({
  provider: "aws",
  region: "eu-central-1",
  group: "g",
  nodeCapacity: { cpu: "8", memory: "32Gi" },
  minNodes: 0,
  maxNodes: 4,
  hourlyPriceUsd: 0.2,
  ...over,
});
type Seen = Record<string, number>;
const memory = (
  m: { firstSeen?: Seen; emptySince?: Seen; interrupted?: Seen } & Partial<
    Pick<PoolMemory, "unavailableUntil" | "reason" | "message">
  > = {},
): PoolMemory => ({
  ...m,
  firstSeen: new Map(Object.entries(m.firstSeen ?? {})),
  emptySince: new Map(Object.entries(m.emptySince ?? {})),
  interrupted: new Map(Object.entries(m.interrupted ?? {})),
});
const pool = (name: string, over: Partial<PoolInput> = {}): PoolInput => ({
  name,
  spec: spec(),
  group: { desired: 0, instances: [] },
  nodes: [],
  memory: memory(),
  ...over,
});
const node = (name: string, instanceId: string, workloadPods = 1): PoolNode => ({
  name,
  instanceId,
  ready: true,
  unschedulable: false,
  workloadPods,
});
const pods = (n: number, pools = ["a", "b"], cpu = 4): PendingPod[] =>
  Array.from({ length: n }, (_, i) => ({ key: `ns/p${i}`, pools, cpu, memory: 4 * 2 ** 30 }));

describe("BurstPool decisions", () => {
  it("raises the first pool's desired size for pending pods, packed by capacity", () => {
    const [a, b] = decidePools([pool("a"), pool("b")], pods(3), config, 0);
    expect(a).toMatchObject({ desired: 2, assigned: 3 });
    expect(b?.desired).toBeUndefined();
  });

  it("does not ask twice for pods that capacity on its way will take (no double scaling)", () => {
    const launching = pool("a", {
      group: {
        desired: 2,
        instances: [
          { id: "i-1", state: "pending" },
          { id: "i-2", state: "pending" },
        ],
      },
    });
    const [a] = decidePools([launching], pods(3), config, 1000);
    expect(a?.desired).toBeUndefined();
    expect(a?.assigned).toBe(3);
  });

  it("stops at maxNodes and sends the rest to the next pool", () => {
    const small = pool("a", { spec: spec({ maxNodes: 1 }) });
    const [a, b] = decidePools([small, pool("b")], pods(4), config, 0);
    expect(a).toMatchObject({ desired: 1, assigned: 2 });
    expect(b).toMatchObject({ desired: 1, assigned: 2, fallbacks: 0 });
  });

  it("skips a pod that can never fit the pool's nodes", () => {
    const [a] = decidePools([pool("a")], pods(1, ["a"], 16), config, 0);
    expect(a?.desired).toBeUndefined();
  });

  it("marks a pool whose instances do not join unavailable, removes them, and falls back", () => {
    const stuck = pool("a", {
      group: { desired: 1, instances: [{ id: "i-1", state: "running" }] },
      memory: memory({ firstSeen: { "i-1": 0 }, emptySince: {} }),
    });
    const [a, b] = decidePools([stuck, pool("b")], pods(1), config, 60_000);
    expect(a?.terminate).toEqual([{ instanceId: "i-1", reason: "did not join" }]);
    expect(a?.status.conditions[0]).toMatchObject({ status: "False", reason: "JoinTimeout" });
    expect(a?.events.map((e) => e.reason)).toEqual(["JoinTimeout"]);
    expect(b).toMatchObject({ desired: 1, fallbacks: 1 });
    expect(a?.memory.unavailableUntil).toBe(360_000);
  });

  it("recovers by itself after the backoff", () => {
    const backing = pool("a", {
      memory: memory({
        unavailableUntil: 100,
        reason: "JoinTimeout",
        message: "x",
        firstSeen: {},
        emptySince: {},
      }),
    });
    const [during] = decidePools([backing], pods(1, ["a"]), config, 50);
    expect(during?.desired).toBeUndefined();
    const [after] = decidePools([backing], pods(1, ["a"]), config, 100);
    expect(after).toMatchObject({ desired: 1 });
    expect(after?.status.conditions[0]?.status).toBe("True");
    expect(after?.events.map((e) => e.reason)).toEqual(["Available", "ScaleUp"]);
  });

  it("treats a group it cannot read as unavailable this round and says why", () => {
    const [a, b] = decidePools(
      [pool("a", { group: { error: "group g does not exist" } }), pool("b")],
      pods(1),
      config,
      0,
    );
    expect(a?.status.conditions[0]).toMatchObject({
      status: "False",
      reason: "GroupUnreadable",
      message: "group g does not exist",
    });
    expect(b).toMatchObject({ desired: 1, fallbacks: 1 });
  });

  it("removes an empty node by its instance after the cooldown, cordoning it first", () => {
    const p = pool("a", {
      group: {
        desired: 2,
        instances: [
          { id: "i-1", state: "running" },
          { id: "i-2", state: "running" },
        ],
      },
      nodes: [node("n1", "i-1", 0), node("n2", "i-2", 1)],
    });
    const [first] = decidePools([p], [], config, 0);
    expect(first?.terminate).toEqual([]);
    const [later] = decidePools([{ ...p, memory: first!.memory }], [], config, 30_000);
    expect(later?.cordon).toEqual(["n1"]);
    expect(later?.terminate).toEqual([{ instanceId: "i-1", node: "n1", reason: "empty" }]);
    expect(later?.status.desiredNodes).toBe(1);
  });

  it("forgets the Node of an instance that left the group once it is NotReady, and only then", () => {
    const gone = { ...node("n-gone", "i-gone", 0), ready: false };
    const leaving = node("n-leaving", "i-leaving", 0);
    const terminating = { ...node("n-term", "i-term", 0), ready: false };
    const [a] = decidePools(
      [
        pool("a", {
          group: { desired: 0, instances: [{ id: "i-term", state: "terminating" }] },
          nodes: [gone, leaving, terminating],
        }),
      ],
      [],
      config,
      0,
    );
    expect(a?.forget).toEqual(["n-gone"]);
    const [unreadable] = decidePools(
      [pool("a", { group: { error: "timeout" }, nodes: [gone] })],
      [],
      config,
      0,
    );
    expect(unreadable?.forget).toEqual([]);
  });

  it("keeps minNodes, and keeps empty nodes while pods wait for the pool", () => {
    const p = pool("a", {
      spec: spec({ minNodes: 1 }),
      group: { desired: 1, instances: [{ id: "i-1", state: "running" }] },
      nodes: [node("n1", "i-1", 0)],
      memory: memory({ firstSeen: {}, emptySince: { n1: 0 } }),
    });
    expect(decidePools([p], [], config, 60_000)[0]?.terminate).toEqual([]);
  });

  it("reports spend as paid-for instances times the price", () => {
    const p = pool("a", {
      group: {
        desired: 2,
        instances: [
          { id: "i-1", state: "running" },
          { id: "i-2", state: "pending" },
        ],
      },
      nodes: [node("n1", "i-1")],
      memory: memory({ firstSeen: { "i-2": 0 }, emptySince: {} }),
    });
    expect(decidePools([p], [], config, 1000)[0]?.status).toMatchObject({
      hourlySpendUsd: 0.4,
      readyNodes: 1,
      currentNodes: 1,
      desiredNodes: 2,
    });
  });

  it("cordons and drains an interrupted node, then removes its instance once empty", () => {
    const p = pool("a", {
      group: { desired: 1, instances: [{ id: "i-1", state: "running" }] },
      nodes: [node("n1", "i-1", 2)],
      memory: memory({ firstSeen: {}, emptySince: {}, interrupted: { "i-1": 0 } }),
    });
    // The two pods on it count as pending: a replacement node is asked for at once.
    const [first] = decidePools([p], pods(2, ["a"], 1), config, 1000);
    expect(first).toMatchObject({
      cordon: ["n1"],
      drain: [{ node: "n1", force: false }],
      desired: 2,
      terminate: [],
    });
    // Late in the notice, a disruption budget no longer holds the pods back.
    expect(decidePools([p], [], config, 60_000)[0]?.drain).toEqual([{ node: "n1", force: true }]);
    const drained = {
      ...p,
      nodes: [{ ...node("n1", "i-1", 0), unschedulable: true }],
      memory: first!.memory,
    };
    const [second] = decidePools([drained], [], config, 2000);
    expect(second?.terminate).toEqual([{ instanceId: "i-1", node: "n1", reason: "interrupted" }]);
  });

  it("treats a node shutting down (GCP preemption) as interrupted", () => {
    const p = pool("a", {
      spec: spec({ provider: "gcp" }),
      group: { desired: 1, instances: [{ id: "vm-1", state: "running" }] },
      nodes: [{ ...node("n1", "vm-1", 1), ready: false, shuttingDown: true }],
    });
    expect(decidePools([p], [], config, 0)[0]).toMatchObject({
      cordon: ["n1"],
      drain: [{ node: "n1", force: false }],
    });
  });

  it("makes a pool with repeated interruptions unavailable, so replacements go to the next pool", () => {
    const p = pool("a", {
      group: {
        desired: 2,
        instances: [
          { id: "i-1", state: "running" },
          { id: "i-2", state: "running" },
        ],
      },
      nodes: [node("n1", "i-1", 1), node("n2", "i-2", 1)],
      memory: memory({ firstSeen: {}, emptySince: {}, interrupted: { "i-1": 0, "i-2": 0 } }),
    });
    const [a, b] = decidePools([p, pool("b")], pods(2), config, 1000);
    expect(a?.status.conditions[0]).toMatchObject({ status: "False", reason: "SpotInterruptions" });
    expect(b).toMatchObject({ desired: 1, fallbacks: 2 });
  });
});

describe("workloadByNode: what keeps a node from going", () => {
  const now = Date.parse("2026-12-05T12:00:00Z");
  const pod = (name: string, node: string | undefined, over: Partial<V1Pod> = {}): V1Pod => ({
    metadata: { name, ...over.metadata },
    spec: { containers: [], ...(node ? { nodeName: node } : {}) },
    status: { phase: "Running", ...over.status },
  });
  it.each([
    ["a running pod", pod("a", "n1"), 1],
    ["an unscheduled pod", pod("a", undefined), 0],
    ["a finished pod", pod("a", "n1", { status: { phase: "Succeeded" } }), 0],
    ["a failed pod", pod("a", "n1", { status: { phase: "Failed" } }), 0],
    [
      "a pod still finishing its streams (grace period not up)",
      pod("a", "n1", { metadata: { deletionTimestamp: new Date(now + 30_000) } }),
      1,
    ],
    [
      "a pod past its grace period (stuck on a dead node)",
      pod("a", "n1", { metadata: { deletionTimestamp: new Date(now - 1) } }),
      0,
    ],
  ])("%s", (_what, p, count) => {
    expect(workloadByNode([p], now).get("n1") ?? 0).toBe(count);
  });
});

describe("shuttingDown: a node whose machine goes without a queue notice", () => {
  it.each([
    ["a Ready node", { status: { conditions: [{ type: "Ready", status: "True" }] } }, false],
    [
      "the kubelet's graceful shutdown",
      {
        status: {
          conditions: [
            { type: "Ready", status: "False", reason: "KubeletNotReady", message: "node is shutting down" },
          ],
        },
      },
      true,
    ],
    [
      "GKE's node termination handler's taint (a preempted VM)",
      {
        spec: {
          taints: [
            { key: "cloud.google.com/impending-node-termination", value: "true", effect: "NoSchedule" },
          ],
        },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      },
      true,
    ],
    [
      "a node NotReady for another reason",
      { status: { conditions: [{ type: "Ready", status: "Unknown", reason: "NodeStatusUnknown" }] } },
      false,
    ],
  ])("%s", (_what, node, expected) => {
    expect(shuttingDown(node as V1Node)).toBe(expected);
  });
});
