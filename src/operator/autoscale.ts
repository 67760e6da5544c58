import type { InferenceModel } from "../api/inference-model.js";
import type { Scale } from "./plan.js";

/**
 * The autoscaler's decision for one model, as a pure function of its spec, the load its ready pods
 * report, the recent recommendations and what the scheduler could not place. The base tier fills first
 * (its servers are paid for), overflow goes to burst, and because burst is what is left above the base,
 * burst drains first when load falls. The stabilization windows work as the HorizontalPodAutoscaler's:
 * up moves to the lowest recommendation of its window, down to the highest of its window.
 */

/** One ready pod's load, from its own /metrics. */
export interface PodLoad {
  pod: string;
  /** False when /metrics could not be read: the pod counts as exactly at target, neither idle nor full. */
  readable: boolean;
  busySlots: number;
  queueDepth: number;
  /** Generated tokens per second since the previous sample (0 on the first). */
  tokensPerSecond: number;
  /** The sha256 of the model file the server loaded, when it reports one. */
  digest?: string | undefined;
}

export interface Recommendation {
  /** Milliseconds since the epoch. */
  at: number;
  replicas: number;
}

export interface AutoscaleInput {
  model: InferenceModel;
  /** Replicas the Deployments ask for now. */
  current: Scale;
  /** The latest sample of the model's ready pods; undefined before the first. */
  load: PodLoad[] | undefined;
  /** Earlier recommendations, oldest first. */
  history: Recommendation[];
  /** Base pods the scheduler could not place: the base is full, so their demand goes to burst at once. */
  unplacedBase: number;
  /** Burst replicas the model may have now (burst.max, the spend cap, pools that can deliver). */
  burstLimit: number;
  now: number;
}

export interface AutoscaleDecision {
  scale: Scale;
  /** Replicas the load asks for over both tiers, after stabilization. */
  replicas: number;
  /** The history to keep: this decision's recommendation added, entries older than both windows gone. */
  history: Recommendation[];
  unreadable: number;
  /** Burst replicas wanted but held back by `burstLimit`. */
  burstHeldBack: number;
}

/** The metric's value for one pod. */
function value(metric: NonNullable<InferenceModel["spec"]["autoscaling"]>["metric"], p: PodLoad): number {
  if (metric === "queueDepth") return p.queueDepth;
  if (metric === "tokensPerSecond") return p.tokensPerSecond;
  return p.busySlots + p.queueDepth;
}

/** Replicas the load asks for, unbounded; undefined when there is nothing to go on. */
export function recommend(model: InferenceModel, load: PodLoad[] | undefined): number | undefined {
  const autoscaling = model.spec.autoscaling;
  if (!autoscaling) return model.spec.replicas.base.min;
  if (!load?.length) return undefined;
  const total = load.reduce(
    (sum, p) => sum + (p.readable ? value(autoscaling.metric, p) : autoscaling.target),
    0,
  );
  // 1e-9: four requests at a target of four is one replica, not two through float error.
  return Math.ceil(total / autoscaling.target - 1e-9);
}

export function decideScale(input: AutoscaleInput): AutoscaleDecision {
  const { model, current, load, now } = input;
  const { base, burst } = model.spec.replicas;
  const autoscaling = model.spec.autoscaling;
  const upWindow = (autoscaling?.scaleUpStabilizationSeconds ?? 0) * 1000;
  const downWindow = (autoscaling?.scaleDownStabilizationSeconds ?? 0) * 1000;
  const clamp = (n: number) => Math.min(Math.max(n, base.min), base.max + burst.max);

  // The burst replicas standing in for unplaced base ones are not the load's: leave them out of "now".
  const currentTotal = clamp(current.base + Math.max(0, current.burst - input.unplacedBase));
  const raw = recommend(model, load);
  const history = input.history.filter((r) => now - r.at <= Math.max(upWindow, downWindow));
  // Nothing remembered (a new model, or the operator restarted): the current scale counts as a
  // recommendation just made, so a restart never scales down before a full window has passed.
  if (!history.length) history.push({ at: now - 1, replicas: currentTotal });
  if (raw !== undefined) history.push({ at: now, replicas: clamp(raw) });

  let replicas = currentTotal;
  if (raw !== undefined) {
    const inWindow = (w: number) => history.filter((r) => now - r.at <= w).map((r) => r.replicas);
    const up = Math.min(...inWindow(upWindow));
    const down = Math.max(...inWindow(downWindow));
    if (currentTotal < up) replicas = up;
    else if (currentTotal > down) replicas = down;
  }

  const baseReplicas = Math.min(Math.max(replicas, base.min), base.max);
  // burst.min is a floor under the load's burst replicas, not extra load: it never moves the base.
  const burstWanted = Math.max(burst.min, Math.min(replicas - baseReplicas + input.unplacedBase, burst.max));
  const burstReplicas = Math.max(0, Math.min(burstWanted, input.burstLimit));
  return {
    scale: { base: baseReplicas, burst: burstReplicas },
    replicas,
    history,
    unreadable: load?.filter((p) => !p.readable).length ?? 0,
    burstHeldBack: Math.max(0, burstWanted - burstReplicas),
  };
}
