import { isDeepStrictEqual } from "node:util";
import type { BurstPoolSpec } from "../api/burst-pool.js";
import type { Condition } from "../api/common.js";
import { ModelConditionType } from "../api/conditions.js";
import type { InferenceModel, InferenceModelStatus } from "../api/inference-model.js";
import { sameQuantity } from "../api/quantity.js";
import { rfc3339 } from "../api/time.js";
import { decideScale, type PodLoad, type Recommendation } from "./autoscale.js";
import { names, plan, prune, type KubeObject, type PlanConfig, type Scale } from "./plan.js";
import type { OperatorEvent } from "./events.js";
import { burstLimit } from "./spend.js";
import { computeStatus, type Observed } from "./status.js";

/**
 * One model's reconcile as a pure decision: the autoscaler picks the scale, the planner the objects, the
 * comparison with what is cached the writes, the status what changed, and the condition flips the
 * events. The controller only executes the result.
 */

export interface ModelSnapshot {
  model: InferenceModel;
  observed: Observed;
  /** Replicas each tier's Deployment asks for now (undefined: no Deployment yet). */
  current: Partial<Scale>;
  /** The cached object matching a planned one, if any. */
  cached: (obj: KubeObject) => unknown;
  load: PodLoad[] | undefined;
  history: Recommendation[];
  pools: ReadonlyMap<string, BurstPoolSpec>;
  now: number;
}

export type ModelEvent = OperatorEvent;

export interface ModelDecision {
  scale: Scale;
  /** Replicas the load asks for over both tiers, after stabilization. */
  replicas: number;
  history: Recommendation[];
  applies: KubeObject[];
  deletes: { kind: "Deployment"; name: string }[];
  /** Undefined when the status would not change (or should wait for the just-created Deployment). */
  status: InferenceModelStatus | undefined;
  events: ModelEvent[];
}

const { Ready, Degraded, Bursting } = ModelConditionType;
const NOTABLE_CONDITIONS = new Set<string>([Ready, Degraded, Bursting]);

/**
 * True when every field set in `want` has the same value in `have` (which may hold more, e.g. defaults).
 * Resource quantities compare by value: the API server stores `cpu: 2` as "2" and "1024Mi" as "1Gi".
 */
export function isSubset(want: unknown, have: unknown, quantities = false): boolean {
  if (Array.isArray(want)) {
    return (
      Array.isArray(have) &&
      want.length === have.length &&
      want.every((w, i) => isSubset(w, have[i], quantities))
    );
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object") return false;
    return Object.entries(want).every(([k, v]) =>
      isSubset(v, (have as Record<string, unknown>)[k], quantities || k === "resources" || k === "sizeLimit"),
    );
  }
  return want === have || (quantities && sameQuantity(want, have));
}

/** Events for flips of Ready, Degraded and Bursting; Progressing flips with every rollout. */
export function transitions(before: Condition[], after: Condition[]): ModelEvent[] {
  const was = new Map(before.map((c) => [c.type, c.status]));
  return after.flatMap((c): ModelEvent[] => {
    if (!NOTABLE_CONDITIONS.has(c.type) || was.get(c.type) === c.status) return [];
    // A condition's first value is not a transition; Ready turning True for the first time is.
    if (!was.has(c.type) && !(c.type === Ready && c.status === "True")) return [];
    const warning =
      (c.type === Ready && c.status === "False" && was.get(Ready) === "True") ||
      (c.type === Degraded && c.status === "True");
    return [
      {
        type: warning ? "Warning" : "Normal",
        reason: c.reason,
        message: `${c.type} is ${c.status}: ${c.message}`,
      },
    ];
  });
}

export function decideModel(s: ModelSnapshot, config: PlanConfig): ModelDecision {
  const { model } = s;
  const limit = burstLimit(model, s.pools);
  const auto = decideScale({
    model,
    current: {
      base: s.current.base ?? model.spec.replicas.base.min,
      burst: s.current.burst ?? 0,
    },
    load: s.load,
    history: s.history,
    unplacedBase: s.observed.unplacedBase?.count ?? 0,
    burstLimit: limit.limit,
    now: s.now,
  });
  const scale = auto.scale;

  const applies = plan(model, scale, config).filter((obj) => !isSubset(obj, s.cached(obj)));
  // Only what exists needs deleting: the burst Deployment of a model that may no longer burst.
  const deletes = s.observed.burst ? prune(model) : [];

  // Just created and not in the cache yet: its add event brings the model straight back, with something to
  // report. Writing "DeploymentMissing" now would only cost a status write and an Event.
  const waiting =
    !s.observed.base &&
    applies.some((o) => o.metadata.name === names.deployment(model.metadata.name, "base"));
  const status = waiting
    ? undefined
    : computeStatus(model, s.observed, scale, rfc3339(s.now), {
        replicas: auto.replicas,
        unreadablePods: auto.unreadable,
        burstHeldBack: auto.burstHeldBack,
        limitReason: limit.reason,
        limitMessage: limit.message,
      });
  const changed = status !== undefined && !isDeepStrictEqual(status, model.status);
  return {
    scale,
    replicas: auto.replicas,
    history: auto.history,
    applies,
    deletes,
    status: changed ? status : undefined,
    events: changed ? transitions(model.status?.conditions ?? [], status.conditions ?? []) : [],
  };
}
