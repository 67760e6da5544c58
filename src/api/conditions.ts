/**
 * The condition types and reasons Spillway writes into its resources' status, and the reasons of the
 * Events it records about them. Each is one `as const` object (the name to write) and a union type of
 * its values (what a field may hold), so that a reason is spelled once and a misspelt one does not
 * compile. The CRD schema keeps `type` and `reason` as plain strings, as metav1.Condition does: clients
 * may read conditions they do not know.
 */

/** InferenceModel status.conditions[].type. */
export const ModelConditionType = {
  /** The base tier's demand is served (on base nodes, or on burst nodes while the base is full). */
  Ready: "Ready",
  Progressing: "Progressing",
  Degraded: "Degraded",
  /** Replicas run on the burst tier. */
  Bursting: "Bursting",
} as const;
export type ModelConditionType = (typeof ModelConditionType)[keyof typeof ModelConditionType];

/**
 * InferenceModel condition reasons of the operator's own. Ready also repeats a model failure's reason
 * (`ModelFailureReason`, src/api/server.ts) and a failing Deployment's condition reason as they are.
 */
export const ModelConditionReason = {
  // Ready
  Serving: "Serving",
  DeploymentMissing: "DeploymentMissing",
  BaseNotReady: "BaseNotReady",
  /** Ready, Progressing and Bursting: base replicas the scheduler cannot place. */
  BaseFull: "BaseFull",
  // Progressing
  RollingOut: "RollingOut",
  Stable: "Stable",
  // Degraded
  DeploymentFailing: "DeploymentFailing",
  AsExpected: "AsExpected",
  // Bursting
  LoadAboveBase: "LoadAboveBase",
  BaseOnly: "BaseOnly",
  /** Bursting=False: burst replicas are wanted and held back by the model's spend cap. */
  SpendCapReached: "SpendCapReached",
  /** Bursting=False: burst replicas are wanted and none of the model's pools exists. */
  NoBurstPool: "NoBurstPool",
} as const;
export type ModelConditionReason = (typeof ModelConditionReason)[keyof typeof ModelConditionReason];

/** BurstPool status.conditions[].type. */
export const PoolConditionType = {
  /** The pool takes new demand. */
  Available: "Available",
  /** The pool's interruption queue (aws) is read; only on pools that name one. */
  InterruptionsRead: "InterruptionsRead",
} as const;
export type PoolConditionType = (typeof PoolConditionType)[keyof typeof PoolConditionType];

/** Why a pool takes no new demand: its Available=False reason, also the Warning Event's reason. */
export const PoolUnavailableReason = {
  GroupUnreadable: "GroupUnreadable",
  JoinTimeout: "JoinTimeout",
  SpotInterruptions: "SpotInterruptions",
} as const;
export type PoolUnavailableReason = (typeof PoolUnavailableReason)[keyof typeof PoolUnavailableReason];

/** BurstPool condition reasons. */
export const PoolConditionReason = {
  ...PoolUnavailableReason,
  // Available
  Delivering: "Delivering",
  /** Available=False without a remembered reason. */
  Unavailable: "Unavailable",
  // InterruptionsRead
  Reading: "Reading",
  QueueUnreadable: "QueueUnreadable",
} as const;
export type PoolConditionReason = (typeof PoolConditionReason)[keyof typeof PoolConditionReason];

/** Reasons of the Events recorded about a BurstPool. */
export const PoolEventReason = {
  ...PoolUnavailableReason,
  /** The pool takes new demand again. */
  Available: "Available",
  ScaleUp: "ScaleUp",
  NodeRemoved: "NodeRemoved",
  InterruptionQueueUnreadable: "InterruptionQueueUnreadable",
} as const;
export type PoolEventReason = (typeof PoolEventReason)[keyof typeof PoolEventReason];
