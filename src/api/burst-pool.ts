import { Type, type Static } from "@sinclair/typebox";
import { Condition, Quantity } from "./common.js";

/**
 * BurstPool (spillway.dev/v1alpha1, cluster-scoped): a group of spot nodes in one cloud (an AWS Auto
 * Scaling group or a GCP managed instance group) that InferenceModels may burst onto. The operator sizes
 * the group from the burst pods that cannot be placed, within minNodes..maxNodes. Its nodes join with the
 * labels spillway.dev/tier=burst, spillway.dev/pool=<this name> and the spot taint (src/api/labels.ts),
 * which the burst pods select and tolerate.
 */
export const BURST_POOL_PROVIDERS = ["aws", "gcp"] as const;

export const BurstPoolSpec = Type.Object(
  {
    provider: Type.Unsafe<(typeof BURST_POOL_PROVIDERS)[number]>({
      type: "string",
      enum: [...BURST_POOL_PROVIDERS],
    }),
    region: Type.String({ minLength: 1, maxLength: 64 }),
    project: Type.Optional(
      Type.String({ minLength: 6, maxLength: 30, description: "gcp: the project that holds the group." }),
    ),
    group: Type.String({ minLength: 1, maxLength: 255, description: "The ASG (aws) or MIG (gcp) name." }),
    nodeCapacity: Type.Object({ cpu: Quantity, memory: Quantity }),
    minNodes: Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }),
    maxNodes: Type.Integer({ minimum: 0, maximum: 10_000 }),
    hourlyPriceUsd: Type.Number({ minimum: 0, description: "Expected spot price per node-hour." }),
    interruptionQueue: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          "aws: the SQS queue URL that EventBridge fills with spot interruption notices (aws-spot stack output interruption_queue_url).",
      }),
    ),
  },
  {
    "x-kubernetes-validations": [
      { rule: "self.minNodes <= self.maxNodes", message: "minNodes must not exceed maxNodes" },
      { rule: "self.provider != 'gcp' || has(self.project)", message: "a gcp pool needs project" },
      {
        rule: "!has(self.interruptionQueue) || self.provider == 'aws'",
        message: "interruptionQueue is for aws pools (gcp nodes shut down gracefully instead)",
      },
    ],
  },
);

export const BurstPoolStatus = Type.Object({
  /** Nodes of the pool registered in the cluster. */
  currentNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  readyNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  desiredNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Instances paid for (launching or running) times hourlyPriceUsd. */
  hourlySpendUsd: Type.Optional(Type.Number({ minimum: 0 })),
  /** While set, the pool gets no new demand (it did not deliver); it recovers by itself afterwards. */
  unavailableUntil: Type.Optional(Type.String({ format: "date-time" })),
  conditions: Type.Optional(
    Type.Array(Condition, { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] }),
  ),
  observedGeneration: Type.Optional(Type.Integer()),
});

export type BurstPoolSpec = Static<typeof BurstPoolSpec>;
export type BurstPoolStatus = Static<typeof BurstPoolStatus>;
