import type { Condition } from "../api/common.js";
import { ModelConditionReason as Reason, ModelConditionType as Type } from "../api/conditions.js";
import type { InferenceModel, InferenceModelStatus } from "../api/inference-model.js";
import { endpoint, type Scale, type Tier } from "./plan.js";
import type { BurstLimit } from "./spend.js";

/**
 * Status of an InferenceModel from what is observed, as a pure function. Conditions follow Kubernetes
 * conventions: one per type, `lastTransitionTime` changes only when the status flips.
 */

/** What the status needs to know of one tier's Deployment. */
export interface ObservedDeployment {
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  /** The Deployment controller has seen the latest spec. */
  upToDate: boolean;
  /** Progressing=False with ProgressDeadlineExceeded, or a ReplicaFailure condition. */
  failure?: { reason: string; message: string } | undefined;
}

export type Observed = Partial<Record<Tier, ObservedDeployment>> & {
  /** Base pods the scheduler could not place, with its own message: the base is full. */
  unplacedBase?: { count: number; message: string } | undefined;
  /** Why a server could not load the model (its termination message), e.g. ModelChecksumMismatch. */
  modelFailure?: { reason: string; message: string } | undefined;
  /** The sha256 the model's servers report having loaded (their /metrics), never the spec's. */
  modelDigest?: string | undefined;
};

/** What the autoscaler decided, beyond the scale itself. */
export interface AutoscaleNotes {
  /** Replicas the load asks for over both tiers. */
  replicas: number;
  /** Ready pods whose /metrics could not be read. */
  unreadablePods: number;
  /** Burst replicas wanted but not asked for, and why. */
  burstHeldBack: number;
  limitReason?: BurstLimit["reason"];
  limitMessage?: string | undefined;
}

type Check = (input: {
  model: InferenceModel;
  observed: Observed;
  scale: Scale;
}) => { failed: false } | { failed: true; reason: string; message: string };

const readyTotal = (o: Observed) => (o.base?.readyReplicas ?? 0) + (o.burst?.readyReplicas ?? 0);

/** Readiness, in order: the first check that fails names the reason. */
const READY_CHECKS: Check[] = [
  ({ observed }) =>
    observed.base
      ? { failed: false }
      : { failed: true, reason: Reason.DeploymentMissing, message: "the base Deployment does not exist yet" },
  ({ observed }) => {
    const f = observed.base?.failure;
    return f
      ? { failed: true, reason: f.reason, message: `base Deployment: ${f.message}` }
      : { failed: false };
  },
  // The base tier's demand must be served: on base nodes, or on burst nodes when the base is full.
  ({ observed, scale }) => {
    const ready = readyTotal(observed);
    const want = Math.max(1, scale.base);
    if (ready >= want) return { failed: false };
    const full = observed.unplacedBase;
    if (observed.modelFailure) {
      const f = observed.modelFailure;
      return { failed: true, reason: f.reason, message: `${ready}/${want} replicas ready; ${f.message}` };
    }
    return full
      ? {
          failed: true,
          reason: Reason.BaseFull,
          message: `${ready}/${want} replicas ready; ${full.count} base replica(s) do not fit: ${full.message}`,
        }
      : { failed: true, reason: Reason.BaseNotReady, message: `${ready}/${want} base replicas ready` };
  },
];

export function setCondition(
  existing: Condition[],
  next: Omit<Condition, "lastTransitionTime">,
  now: string,
): Condition[] {
  const prev = existing.find((c) => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : now;
  const condition = { ...next, lastTransitionTime };
  return prev ? existing.map((c) => (c.type === next.type ? condition : c)) : [...existing, condition];
}

function summary(ready: number, desired: number) {
  return { desired, ready, summary: `${ready}/${desired}` };
}

export function computeStatus(
  model: InferenceModel,
  observed: Observed,
  scale: Scale,
  now: string,
  notes?: AutoscaleNotes,
): InferenceModelStatus {
  const generation = model.metadata.generation;
  const input = { model, observed, scale };
  let conditions = model.status?.conditions ?? [];
  const set = (type: Type, status: Condition["status"], reason: string, message: string) => {
    conditions = setCondition(
      conditions,
      { type, status, reason, message, observedGeneration: generation },
      now,
    );
  };

  const failed = READY_CHECKS.map((c) => c(input)).find((r) => r.failed);
  const baseReady = observed.base?.readyReplicas ?? 0;
  const burstReady = observed.burst?.readyReplicas ?? 0;
  if (failed?.failed) set(Type.Ready, "False", failed.reason, failed.message);
  else
    set(
      Type.Ready,
      "True",
      Reason.Serving,
      `${baseReady}/${scale.base} base and ${burstReady}/${scale.burst} burst replicas ready`,
    );

  const rolling = (["base", "burst"] as const).filter((t) => {
    const d = observed[t];
    return d && (!d.upToDate || d.updatedReplicas < d.replicas || d.readyReplicas < d.replicas);
  });
  const full = observed.unplacedBase;
  if (full)
    set(
      Type.Progressing,
      "True",
      Reason.BaseFull,
      `the base is full: ${full.count} base replica(s) cannot be placed: ${full.message}`,
    );
  else if (rolling.length)
    set(Type.Progressing, "True", Reason.RollingOut, `rolling out: ${rolling.join(", ")}`);
  else set(Type.Progressing, "False", Reason.Stable, "all replicas are up to date");

  const failures = (["base", "burst"] as const).flatMap((t) => {
    const f = observed[t]?.failure;
    return f ? [`${t}: ${f.message}`] : [];
  });
  if (failures.length) set(Type.Degraded, "True", Reason.DeploymentFailing, failures.join("; "));
  else set(Type.Degraded, "False", Reason.AsExpected, "no failures");

  const heldBack =
    notes?.burstHeldBack && notes.limitReason
      ? `; ${notes.burstHeldBack} more held back: ${notes.limitMessage ?? notes.limitReason}`
      : "";
  if (scale.burst > 0)
    set(
      Type.Bursting,
      "True",
      full ? Reason.BaseFull : Reason.LoadAboveBase,
      `${scale.burst} burst replicas on spot capacity${heldBack}`,
    );
  else if (notes?.burstHeldBack && notes.limitReason)
    set(Type.Bursting, "False", notes.limitReason, `${notes.burstHeldBack} burst replicas wanted${heldBack}`);
  else set(Type.Bursting, "False", Reason.BaseOnly, "all replicas on the base tier");

  return {
    observedGeneration: generation,
    conditions,
    replicas: {
      base: summary(baseReady, scale.base),
      burst: summary(burstReady, scale.burst),
    },
    ...(notes
      ? { autoscaling: { desiredReplicas: notes.replicas, unreadablePods: notes.unreadablePods } }
      : {}),
    endpoint: endpoint(model),
    ...(observed.modelDigest ? { modelDigest: `sha256:${observed.modelDigest}` } : {}),
  };
}
