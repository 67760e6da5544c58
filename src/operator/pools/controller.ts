import { isDeepStrictEqual } from "node:util";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { BurstPoolSpec } from "../../api/burst-pool.js";
import type { Condition } from "../../api/common.js";
import { PoolEventReason } from "../../api/conditions.js";
import type { InferenceModel } from "../../api/inference-model.js";
import { IMPENDING_TERMINATION_TAINT, POOL_LABEL, TIER_LABEL } from "../../api/labels.js";
import { parseQuantity } from "../../api/quantity.js";
import { rfc3339 } from "../../api/time.js";
import { GROUP, VERSION } from "../../api/common.js";
import { statusOf } from "../api-error.js";
import type { OperatorMetrics } from "../metrics.js";
import { setCondition } from "../status.js";
import {
  decidePools,
  type PendingPod,
  type PoolInput,
  type PoolMemory,
  type PoolNode,
  type PoolPlan,
  type PoolsConfig,
} from "./decide.js";
import { instanceIdOf, type PoolDrivers } from "./driver.js";
import type { InterruptionQueue } from "./interruptions.js";
import type { PoolStatusPatch, PoolWriter } from "./writer.js";

/**
 * The BurstPool controller: every round (and soon after a burst pod or node changes) it reads each pool's
 * cloud group, decides with `decidePools`, and carries the plan out: raise desired sizes, cordon and
 * remove empty nodes by instance, write pool status and events. A pool whose cloud fails does not stop
 * the others.
 */

/** A BurstPool as the informer caches it. */
export interface BurstPool {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; uid?: string; generation?: number; labels?: Record<string, string> };
  spec: BurstPoolSpec;
  status?: Record<string, unknown>;
}

/** What the controller reads of the cluster: the informers' caches, and the model a burst pod serves. */
export interface PoolView {
  /** The pools this operator sizes. */
  pools: () => readonly BurstPool[];
  nodes: () => readonly V1Node[];
  pods: () => readonly V1Pod[];
  modelOf: (pod: V1Pod) => InferenceModel | undefined;
}

export interface PoolControllerOptions {
  drivers: PoolDrivers;
  /** Reads the aws pools' interruption queues; absent: notices are not read. */
  interruptions?: Pick<InterruptionQueue, "drain">;
  config: PoolsConfig;
  intervalSeconds: number;
  log: Logger;
  metrics: OperatorMetrics;
  view: PoolView;
  writer: PoolWriter;
  now?: () => number;
}

export class PoolController {
  private readonly memory = new Map<string, PoolMemory>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private again = false;
  private running = false;

  constructor(private readonly o: PoolControllerOptions) {}

  start(): void {
    this.running = true;
    this.timer = setInterval(() => {
      this.nudge(0);
    }, this.o.intervalSeconds * 1000);
    this.nudge(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    await this.round;
  }

  /** Run a round soon: events come in bursts (a scale-up makes many pods), so they are gathered first. */
  nudge(delayMs = 500): void {
    if (!this.running || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      if (this.round) {
        this.again = true;
        return;
      }
      this.round = this.reconcile()
        .catch((err: unknown) => {
          this.o.log.error({ err: String(err) }, "pool round failed");
        })
        .finally(() => {
          this.round = undefined;
          if (this.again && this.running) {
            this.again = false;
            this.nudge(0);
          }
        });
    }, delayMs);
  }

  private now() {
    return (this.o.now ?? Date.now)();
  }

  async reconcile(): Promise<void> {
    const pools = this.o.view.pools();
    const nodes = this.o.view.nodes();
    const pods = this.o.view.pods();
    const workload = workloadByNode(pods, this.now());

    await this.readInterruptions(pools);
    const inputs: PoolInput[] = await Promise.all(
      pools.map(async (pool): Promise<PoolInput> => {
        const driver = this.o.drivers[pool.spec.provider];
        let group: PoolInput["group"];
        if (!driver) group = { error: `no ${pool.spec.provider} driver is configured in this operator` };
        else
          group = await driver.describe(pool.spec).catch((err: unknown) => ({
            error: `${pool.spec.provider} ${pool.spec.group}: ${err instanceof Error ? err.message : String(err)}`,
          }));
        return {
          name: pool.metadata.name,
          spec: pool.spec,
          group,
          nodes: nodes
            .filter((n) => n.metadata?.labels?.[POOL_LABEL] === pool.metadata.name)
            .map((n) => poolNode(n, workload)),
          memory: this.memory.get(pool.metadata.name) ?? emptyMemory(),
        };
      }),
    );

    // Pods on nodes under an interruption notice count as pending now: their replacements are asked for
    // while the notice runs, not after the pods are gone.
    const doomed = new Set(
      inputs.flatMap((p) =>
        p.nodes
          .filter((n) => n.shuttingDown || (n.instanceId && p.memory.interrupted.has(n.instanceId)))
          .map((n) => n.name),
      ),
    );
    const pending = pendingBurstPods(pods, this.o.view.modelOf, doomed);
    const plans = decidePools(inputs, pending, this.o.config, this.now());
    for (const name of this.memory.keys())
      if (!pools.some((p) => p.metadata.name === name)) this.memory.delete(name);
    await Promise.all(
      plans.flatMap((plan) => {
        const pool = pools.find((p) => p.metadata.name === plan.name);
        if (!pool) return [];
        return this.execute(pool, plan).catch((err: unknown) => {
          this.o.log.error({ pool: plan.name, err: String(err) }, "pool action failed");
        });
      }),
    );
  }

  /** Notices from each aws pool's queue go into the pool's memory, where the decision acts on them. */
  private async readInterruptions(pools: readonly BurstPool[]): Promise<void> {
    const queue = this.o.interruptions;
    if (!queue) return;
    await Promise.all(
      pools.map(async (pool) => {
        const url = pool.spec.interruptionQueue;
        if (pool.spec.provider !== "aws" || !url) return;
        const memory = this.memory.get(pool.metadata.name) ?? emptyMemory();
        const interrupted = new Map(memory.interrupted);
        let queueError: string | undefined;
        try {
          await queue.drain(pool.spec.region, url, (n) => {
            if (!interrupted.has(n.instanceId)) interrupted.set(n.instanceId, this.now());
            this.o.metrics.interruptions.inc({ pool: pool.metadata.name, kind: n.kind });
            this.o.log.warn(
              { pool: pool.metadata.name, instance: n.instanceId, kind: n.kind },
              "interruption notice",
            );
          });
        } catch (err) {
          queueError = `${url}: ${err instanceof Error ? err.message : String(err)}`;
          this.o.log.error(
            { pool: pool.metadata.name, err: queueError },
            "cannot read the interruption queue",
          );
          // An Event when it starts failing, not every round.
          if (queueError !== memory.queueError)
            await this.recordEvent(pool, "Warning", PoolEventReason.InterruptionQueueUnreadable, queueError);
        }
        this.memory.set(pool.metadata.name, { ...memory, interrupted, queueError });
      }),
    );
  }

  /**
   * Evicts the Spillway pods of a node (the Eviction API honours the PodDisruptionBudget). A refused
   * eviction is tried again next round; with `force`, late in the notice, the pod is deleted instead,
   * still with its grace period, so its server finishes what it can before the instance goes.
   */
  private async drain(node: string, force: boolean): Promise<void> {
    for (const pod of this.o.view.pods()) {
      if (pod.spec?.nodeName !== node || pod.metadata?.deletionTimestamp) continue;
      const { name, namespace } = pod.metadata ?? {};
      if (!name || !namespace) continue;
      try {
        await this.o.writer.evictPod(namespace, name);
        this.o.metrics.writes.inc({ kind: "Pod/eviction" });
      } catch (err) {
        if (statusOf(err) !== 429 || !force) {
          this.o.log.warn({ node, pod: `${namespace}/${name}`, err: String(err) }, "eviction refused");
          continue;
        }
        await this.o.writer.deletePod(namespace, name);
        this.o.metrics.writes.inc({ kind: "Pod/delete" });
        this.o.log.warn(
          { node, pod: `${namespace}/${name}` },
          "disruption budget exhausted; deleted before the interruption",
        );
      }
    }
  }

  private async execute(pool: BurstPool, plan: PoolPlan): Promise<void> {
    this.memory.set(plan.name, plan.memory);
    const driver = this.o.drivers[pool.spec.provider];
    const log = this.o.log.child({ pool: plan.name });
    const m = this.o.metrics;
    if (plan.fallbacks) m.poolFallbacks.inc({ pool: plan.name }, plan.fallbacks);
    if (driver && plan.desired !== undefined) {
      await driver.setDesired(pool.spec, plan.desired);
      m.poolDecisions.inc({ pool: plan.name, action: "scale_up" });
      log.info({ desired: plan.desired, pending: plan.assigned }, "raised desired nodes");
    }
    for (const node of plan.cordon) {
      await this.o.writer.cordonNode(node);
      m.writes.inc({ kind: "Node/cordon" });
    }
    for (const d of plan.drain) await this.drain(d.node, d.force);
    for (const t of plan.terminate) {
      if (!driver) continue;
      await driver.terminate(pool.spec, t.instanceId);
      m.poolDecisions.inc({ pool: plan.name, action: "terminate" });
      log.info({ instance: t.instanceId, node: t.node, reason: t.reason }, "removed instance");
    }
    for (const node of plan.forget) {
      await this.o.writer.deleteNode(node).catch((err: unknown) => {
        if (statusOf(err) !== 404) throw err;
      });
      m.writes.inc({ kind: "Node/delete" });
      log.info({ node }, "deleted the node of an instance that left the group");
    }
    m.poolNodes.set({ pool: plan.name, state: "desired" }, plan.status.desiredNodes);
    m.poolNodes.set({ pool: plan.name, state: "ready" }, plan.status.readyNodes);
    m.poolSpend.set({ pool: plan.name }, plan.status.hourlySpendUsd);
    m.poolAvailable.set({ pool: plan.name }, plan.status.conditions[0]?.status === "True" ? 1 : 0);

    const now = rfc3339(this.now());
    let conditions = (pool.status?.conditions as Condition[] | undefined) ?? [];
    for (const c of plan.status.conditions)
      conditions = setCondition(conditions, { ...c, observedGeneration: pool.metadata.generation }, now);
    const status: PoolStatusPatch = {
      observedGeneration: pool.metadata.generation,
      desiredNodes: plan.status.desiredNodes,
      currentNodes: plan.status.currentNodes,
      readyNodes: plan.status.readyNodes,
      hourlySpendUsd: plan.status.hourlySpendUsd,
      unavailableUntil: plan.status.unavailableUntil ?? null,
      conditions,
    };
    const before = { ...pool.status, unavailableUntil: pool.status?.unavailableUntil ?? null };
    if (!isDeepStrictEqual(pickKeys(before, status), status)) {
      await this.o.writer.patchPoolStatus(plan.name, status);
      m.writes.inc({ kind: "BurstPool/status" });
    }
    for (const e of plan.events) await this.recordEvent(pool, e.type, e.reason, e.message);
  }

  private recordEvent(pool: BurstPool, type: "Normal" | "Warning", reason: PoolEventReason, message: string) {
    return this.o.writer.event(
      {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "BurstPool",
        name: pool.metadata.name,
        ...(pool.metadata.uid ? { uid: pool.metadata.uid } : {}),
      },
      { type, reason, message },
    );
  }
}

function emptyMemory(): PoolMemory {
  return { firstSeen: new Map(), emptySince: new Map(), interrupted: new Map() };
}

function pickKeys(from: Record<string, unknown>, like: object) {
  return Object.fromEntries(Object.keys(like).map((k) => [k, from[k]]));
}

/**
 * Spillway pods per node, for when a node may go. A terminating pod counts until its grace period is up
 * (its deletionTimestamp): it is still finishing the streams it holds, and taking its instance away sooner
 * would cut them. Past that time it counts no more, so a pod stuck on a dead node cannot keep an instance.
 */
export function workloadByNode(pods: readonly V1Pod[], now: number): Map<string, number> {
  const workload = new Map<string, number>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (!node || p.status?.phase === "Succeeded" || p.status?.phase === "Failed") continue;
    const deletion = p.metadata?.deletionTimestamp;
    if (deletion && new Date(deletion).getTime() <= now) continue;
    workload.set(node, (workload.get(node) ?? 0) + 1);
  }
  return workload;
}

function poolNode(n: V1Node, workload: Map<string, number>): PoolNode {
  const name = n.metadata?.name ?? "";
  return {
    name,
    instanceId: instanceIdOf(n.spec?.providerID),
    ready: n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    unschedulable: n.spec?.unschedulable ?? false,
    workloadPods: workload.get(name) ?? 0,
    shuttingDown: shuttingDown(n),
  };
}

/**
 * A node whose machine is going away without a queue notice: the kubelet's graceful node shutdown sets
 * Ready=False with such a message while it stops the pods, and GKE's node termination handler taints the
 * node of a preempted VM as its 30 s soft off begins.
 */
export function shuttingDown(n: V1Node): boolean {
  if (n.spec?.taints?.some((t) => t.key === IMPENDING_TERMINATION_TAINT)) return true;
  const ready = n.status?.conditions?.find((c) => c.type === "Ready");
  return (
    ready?.status !== "True" && /shutting down|shutdown|preempt/i.test(`${ready?.reason} ${ready?.message}`)
  );
}

/** Burst pods the scheduler could not place, with their model's pools and their requests. */
export function pendingBurstPods(
  pods: readonly V1Pod[],
  modelOf: (pod: V1Pod) => InferenceModel | undefined,
  doomedNodes: ReadonlySet<string> = new Set(),
): PendingPod[] {
  return pods.flatMap((p) => {
    if (p.metadata?.labels?.[TIER_LABEL] !== "burst" || p.metadata.deletionTimestamp) return [];
    if (p.spec?.nodeName) {
      if (!doomedNodes.has(p.spec.nodeName)) return [];
    } else {
      const c = p.status?.conditions?.find((x) => x.type === "PodScheduled" && x.status === "False");
      if (c?.reason !== "Unschedulable") return [];
    }
    const model = modelOf(p);
    if (!model) return [];
    let cpu = 0;
    let memory = 0;
    for (const container of p.spec?.containers ?? []) {
      cpu += parseQuantity(container.resources?.requests?.cpu) ?? 0;
      memory += parseQuantity(container.resources?.requests?.memory) ?? 0;
    }
    return [
      {
        key: `${p.metadata.namespace}/${p.metadata.name}`,
        pools: model.spec.replicas.burst.pools,
        cpu,
        memory,
      },
    ];
  });
}
