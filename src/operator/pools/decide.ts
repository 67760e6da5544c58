import type { BurstPoolSpec } from "../../api/burst-pool.js";
import type { Condition } from "../../api/common.js";
import {
  PoolConditionReason,
  PoolConditionType,
  PoolEventReason,
  PoolUnavailableReason,
} from "../../api/conditions.js";
import { parseQuantity } from "../../api/quantity.js";
import { rfc3339 } from "../../api/time.js";

/**
 * The BurstPool controller's decision, as a pure function of every pool's cloud group, its nodes and the
 * burst pods the scheduler could not place. Pods go to the first pool of their model's list that is
 * available and has room; a pool that does not deliver (its group cannot be read, or its instances do not
 * join within the join timeout) is unavailable for a backoff, and its demand moves to the next pool.
 * Nodes are added by raising the group's desired size and removed one by one, by instance, once empty for
 * a cooldown: never an arbitrary instance.
 */

export interface Instance {
  id: string;
  /** pending: launching; running: in service; terminating: on its way out. */
  state: "pending" | "running" | "terminating";
}

export interface GroupState {
  desired: number;
  instances: Instance[];
}

export interface PoolNode {
  name: string;
  /** From the node's providerID (written at join by the pool's cloud-init). */
  instanceId: string | undefined;
  ready: boolean;
  unschedulable: boolean;
  /** Pods other than DaemonSet pods, not terminating. */
  workloadPods: number;
  /** The kubelet reports a graceful shutdown (a GCP spot preemption's ACPI soft-off). */
  shuttingDown?: boolean;
}

/** A burst pod the scheduler could not place. */
export interface PendingPod {
  key: string;
  /** The model's `replicas.burst.pools`, in order of preference. */
  pools: string[];
  cpu: number;
  memory: number;
}

/** What the controller remembers of a pool between decisions (kept in memory; rebuilt after a restart). */
export interface PoolMemory {
  /** While now < unavailableUntil, the pool gets no new demand. */
  unavailableUntil?: number | undefined;
  reason?: PoolUnavailableReason | undefined;
  message?: string | undefined;
  /** When each instance was first seen without a node. */
  firstSeen: Map<string, number>;
  /** When each node was first seen empty. */
  emptySince: Map<string, number>;
  /** Instances with a spot interruption notice, and when it came. */
  interrupted: Map<string, number>;
  /** Why the pool's interruption queue could not be read in the last round. */
  queueError?: string | undefined;
}

export interface PoolInput {
  name: string;
  spec: BurstPoolSpec;
  /** The group as the cloud reports it, or why it could not be read. */
  group: GroupState | { error: string };
  nodes: PoolNode[];
  memory: PoolMemory;
}

export interface PoolsConfig {
  joinTimeoutMs: number;
  backoffMs: number;
  emptyNodeCooldownMs: number;
  /** This many interruptions within one backoff make the pool unavailable (spot capacity is drying up). */
  interruptionsToBackoff: number;
  /**
   * After this long under a notice, pods that their PodDisruptionBudget will not let go are deleted
   * anyway (gracefully): the instance goes at the end of the notice whatever the budget says.
   */
  forceDrainAfterMs: number;
}

export interface PoolEvent {
  type: "Normal" | "Warning";
  reason: PoolEventReason;
  message: string;
}

export interface PoolStatusOut {
  desiredNodes: number;
  currentNodes: number;
  readyNodes: number;
  hourlySpendUsd: number;
  unavailableUntil?: string;
  conditions: (Omit<Condition, "type" | "reason" | "lastTransitionTime" | "observedGeneration"> & {
    type: PoolConditionType;
    reason: PoolConditionReason;
  })[];
}

export interface PoolPlan {
  name: string;
  /** A new desired size for the group, when it must grow. */
  desired?: number;
  /** Instances to remove, each with ShouldDecrementDesiredCapacity (or the MIG's deleteInstances). */
  terminate: { instanceId: string; node?: string; reason: string }[];
  cordon: string[];
  /**
   * Node objects to delete: NotReady, and their instance has left the group. A cloud's node lifecycle
   * controller would delete them; the fleet's k3s runs none for AWS or GCP, so they would stay forever.
   */
  forget: string[];
  /** Nodes whose pods are evicted now (an interruption notice runs); `force`: deleted if eviction is refused. */
  drain: { node: string; force: boolean }[];
  memory: PoolMemory;
  status: PoolStatusOut;
  events: PoolEvent[];
  /** Pending pods placed here although an earlier pool of their model's list was unavailable. */
  fallbacks: number;
  /** Pending pods this pool is expected to take. */
  assigned: number;
}

interface Bin {
  cpu: number;
  memory: number;
}

export function capacityOf(spec: BurstPoolSpec): Bin {
  return {
    cpu: parseQuantity(spec.nodeCapacity.cpu) ?? 0,
    memory: parseQuantity(spec.nodeCapacity.memory) ?? 0,
  };
}

function fits(bin: Bin, pod: PendingPod) {
  return bin.cpu + 1e-9 >= pod.cpu && bin.memory + 1e-9 >= pod.memory;
}

interface Working {
  input: PoolInput;
  available: boolean;
  memory: PoolMemory;
  events: PoolEvent[];
  terminate: PoolPlan["terminate"];
  cordon: string[];
  drain: PoolPlan["drain"];
  /** Capacity on its way: instances without a node yet, and group size not launched yet. */
  bins: Bin[];
  baseDesired: number;
  newNodes: number;
  assigned: number;
  fallbacks: number;
}

export function decidePools(
  pools: PoolInput[],
  pending: PendingPod[],
  config: PoolsConfig,
  now: number,
): PoolPlan[] {
  const work = new Map<string, Working>();
  for (const input of pools) work.set(input.name, assess(input, config, now));

  for (const pod of pending) {
    let skippedUnavailable = false;
    for (const name of pod.pools) {
      const w = work.get(name);
      if (!w) continue;
      if (!w.available) {
        skippedUnavailable = true;
        continue;
      }
      if (place(w, pod)) {
        w.assigned++;
        if (skippedUnavailable) w.fallbacks++;
        break;
      }
    }
  }

  return [...work.values()].map((w) => finish(w, config, now));
}

function assess(input: PoolInput, config: PoolsConfig, now: number): Working {
  const memory: PoolMemory = {
    ...input.memory,
    firstSeen: new Map(input.memory.firstSeen),
    emptySince: new Map(input.memory.emptySince),
    interrupted: new Map(input.memory.interrupted),
  };
  const events: PoolEvent[] = [];
  const terminate: PoolPlan["terminate"] = [];
  const w: Working = {
    input,
    available: true,
    memory,
    events,
    terminate,
    cordon: [],
    drain: [],
    bins: [],
    baseDesired: 0,
    newNodes: 0,
    assigned: 0,
    fallbacks: 0,
  };
  const wasUnavailable = memory.reason !== undefined;

  if ("error" in input.group) {
    // Cannot see the group: ask nothing of it this round, and say why (no backoff: it is re-read each round).
    w.available = false;
    if (memory.reason !== PoolUnavailableReason.GroupUnreadable || memory.message !== input.group.error)
      events.push({ type: "Warning", reason: PoolEventReason.GroupUnreadable, message: input.group.error });
    memory.reason = PoolUnavailableReason.GroupUnreadable;
    memory.message = input.group.error;
    memory.unavailableUntil = undefined;
    return w;
  }

  const group = input.group;
  const nodeByInstance = new Map(input.nodes.flatMap((n) => (n.instanceId ? [[n.instanceId, n]] : [])));
  const live = group.instances.filter((i) => i.state !== "terminating");
  interruptions(w, nodeByInstance, new Set(live.map((i) => i.id)), config, now);
  for (const id of memory.firstSeen.keys())
    if (!live.some((i) => i.id === id) || nodeByInstance.has(id)) memory.firstSeen.delete(id);
  const unjoined = live.filter((i) => !nodeByInstance.has(i.id));
  for (const i of unjoined) if (!memory.firstSeen.has(i.id)) memory.firstSeen.set(i.id, now);
  const stuck = unjoined.filter((i) => now - (memory.firstSeen.get(i.id) ?? now) >= config.joinTimeoutMs);

  if (stuck.length) {
    memory.unavailableUntil = now + config.backoffMs;
    memory.reason = PoolUnavailableReason.JoinTimeout;
    memory.message = `${stuck.length} instance(s) did not join within ${config.joinTimeoutMs / 1000}s: ${stuck
      .map((i) => i.id)
      .join(", ")}`;
    events.push({ type: "Warning", reason: PoolEventReason.JoinTimeout, message: memory.message });
    for (const i of stuck) {
      terminate.push({ instanceId: i.id, reason: "did not join" });
      memory.firstSeen.delete(i.id);
    }
  } else if (memory.reason === PoolUnavailableReason.GroupUnreadable) {
    memory.reason = memory.message = undefined;
  }

  if (memory.unavailableUntil !== undefined && now < memory.unavailableUntil) w.available = false;
  else if (memory.unavailableUntil !== undefined) {
    memory.unavailableUntil = undefined;
    memory.reason = memory.message = undefined;
  }
  if (wasUnavailable && w.available)
    events.push({
      type: "Normal",
      reason: PoolEventReason.Available,
      message: "the pool takes new demand again",
    });

  // What is already on its way can take pending pods before anything new is asked for.
  const stuckIds = new Set(stuck.map((i) => i.id));
  const launching = unjoined.filter((i) => !stuckIds.has(i.id)).length;
  const notLaunched = Math.max(0, group.desired - group.instances.length);
  const capacity = capacityOf(input.spec);
  w.bins = Array.from({ length: w.available ? launching + notLaunched : 0 }, () => ({ ...capacity }));
  w.baseDesired = group.desired - stuck.length;
  return w;
}

/**
 * Nodes with an interruption notice (an AWS warning from the queue, or a GCP node shutting down): cordon
 * and drain at once, so their pods are replaced while the notice runs; once empty, the instance is removed
 * with the group's size, so the replacement comes from the pending pods' demand, in whichever pool is
 * available then. Too many notices in one backoff make the pool unavailable.
 */
function interruptions(
  w: Working,
  nodeByInstance: Map<string, PoolNode>,
  live: Set<string>,
  config: PoolsConfig,
  now: number,
) {
  const interrupted = w.memory.interrupted;
  for (const n of w.input.nodes)
    if (n.shuttingDown && n.instanceId && !interrupted.has(n.instanceId)) interrupted.set(n.instanceId, now);
  for (const [id, at] of interrupted) {
    const node = nodeByInstance.get(id);
    if (!live.has(id) && !node) {
      // Gone; remembered for the backoff only, to count interruptions.
      if (now - at > config.backoffMs) interrupted.delete(id);
      continue;
    }
    if (!node) continue;
    if (!node.unschedulable) w.cordon.push(node.name);
    if (node.workloadPods > 0) w.drain.push({ node: node.name, force: now - at >= config.forceDrainAfterMs });
    else if (live.has(id)) w.terminate.push({ instanceId: id, node: node.name, reason: "interrupted" });
  }
  const recent = [...interrupted.values()].filter((at) => now - at <= config.backoffMs).length;
  if (
    recent >= config.interruptionsToBackoff &&
    w.memory.reason !== PoolUnavailableReason.SpotInterruptions
  ) {
    w.memory.unavailableUntil = now + config.backoffMs;
    w.memory.reason = PoolUnavailableReason.SpotInterruptions;
    w.memory.message = `${recent} spot interruptions within ${config.backoffMs / 1000}s`;
    w.events.push({ type: "Warning", reason: PoolEventReason.SpotInterruptions, message: w.memory.message });
  }
}

function place(w: Working, pod: PendingPod): boolean {
  const capacity = capacityOf(w.input.spec);
  if (!fits(capacity, pod)) return false;
  let bin = w.bins.find((b) => fits(b, pod));
  if (!bin) {
    if (w.baseDesired + w.newNodes >= w.input.spec.maxNodes) return false;
    bin = { ...capacity };
    w.bins.push(bin);
    w.newNodes++;
  }
  bin.cpu -= pod.cpu;
  bin.memory -= pod.memory;
  return true;
}

function finish(w: Working, config: PoolsConfig, now: number): PoolPlan {
  const { input, memory, events, terminate, cordon, drain } = w;
  const spec = input.spec;
  const group = "error" in input.group ? undefined : input.group;
  let desired: number | undefined;
  let size = group ? w.baseDesired : 0;

  if (group) {
    const want = Math.min(Math.max(w.baseDesired + w.newNodes, spec.minNodes), spec.maxNodes);
    if (want > w.baseDesired) {
      desired = want;
      events.push({
        type: "Normal",
        reason: PoolEventReason.ScaleUp,
        message: `desired nodes ${group.desired} → ${want} for ${w.assigned} pending burst pod(s)`,
      });
      size = want;
    }

    // Empty nodes go after a cooldown, one instance at a time by id, while nothing waits for this pool.
    const live = new Set(group.instances.filter((i) => i.state !== "terminating").map((i) => i.id));
    size -= terminate.filter((t) => t.reason === "interrupted").length;
    for (const node of input.nodes) {
      const interrupted = node.instanceId !== undefined && memory.interrupted.has(node.instanceId);
      if (node.workloadPods > 0 || !node.instanceId || !live.has(node.instanceId) || interrupted) {
        memory.emptySince.delete(node.name);
        continue;
      }
      const since = memory.emptySince.get(node.name) ?? now;
      memory.emptySince.set(node.name, since);
      const idle = now - since >= config.emptyNodeCooldownMs;
      if (!idle || w.assigned > 0 || desired !== undefined || size <= spec.minNodes) continue;
      if (!node.unschedulable) cordon.push(node.name);
      terminate.push({ instanceId: node.instanceId, node: node.name, reason: "empty" });
      events.push({
        type: "Normal",
        reason: PoolEventReason.NodeRemoved,
        message: `${node.name} (${node.instanceId}) was empty for ${config.emptyNodeCooldownMs / 1000}s`,
      });
      memory.emptySince.delete(node.name);
      size--;
    }
    for (const name of memory.emptySince.keys())
      if (!input.nodes.some((n) => n.name === name)) memory.emptySince.delete(name);
  }

  const inGroup = new Set(group?.instances.map((i) => i.id));
  const forget = group
    ? input.nodes.filter((n) => n.instanceId && !inGroup.has(n.instanceId) && !n.ready).map((n) => n.name)
    : [];

  const readyNodes = input.nodes.filter((n) => n.ready && !n.unschedulable).length;
  const paidFor = group ? group.instances.filter((i) => i.state !== "terminating").length : 0;
  const available = w.available;
  return {
    name: input.name,
    ...(desired !== undefined ? { desired } : {}),
    terminate,
    cordon,
    forget,
    drain,
    memory,
    events,
    fallbacks: w.fallbacks,
    assigned: w.assigned,
    status: {
      desiredNodes: size,
      currentNodes: input.nodes.length,
      readyNodes,
      hourlySpendUsd: Math.round(paidFor * spec.hourlyPriceUsd * 10_000) / 10_000,
      ...(memory.unavailableUntil !== undefined
        ? { unavailableUntil: rfc3339(memory.unavailableUntil) }
        : {}),
      conditions: [
        available
          ? {
              type: PoolConditionType.Available,
              status: "True",
              reason: PoolConditionReason.Delivering,
              message: "the pool takes new demand",
            }
          : {
              type: PoolConditionType.Available,
              status: "False",
              reason: memory.reason ?? PoolConditionReason.Unavailable,
              message: memory.message ?? "",
            },
        ...(spec.interruptionQueue
          ? [
              memory.queueError === undefined
                ? {
                    type: PoolConditionType.InterruptionsRead,
                    status: "True" as const,
                    reason: PoolConditionReason.Reading,
                    message: "the interruption queue is read every round",
                  }
                : {
                    type: PoolConditionType.InterruptionsRead,
                    status: "False" as const,
                    reason: PoolConditionReason.QueueUnreadable,
                    message: memory.queueError,
                  },
            ]
          : []),
      ],
    },
  };
}
