import { Type, type Static } from "@sinclair/typebox";
import { Quantity, Taint } from "./common.js";

/**
 * BurstPool (spillway.dev/v1alpha1, cluster-scoped): a group of spot nodes in one cloud (an AWS Auto
 * Scaling group or a GCP managed instance group) that InferenceModels may burst onto. Its controller comes
 * with the burst work; the resource and its validation exist now so models can refer to pools.
 */
export const BURST_POOL_PROVIDERS = ["aws", "gcp"] as const;

export const BurstPoolSpec = Type.Object(
  {
    provider: Type.Unsafe<(typeof BURST_POOL_PROVIDERS)[number]>({
      type: "string",
      enum: [...BURST_POOL_PROVIDERS],
    }),
    region: Type.String({ minLength: 1, maxLength: 64 }),
    group: Type.String({ minLength: 1, maxLength: 255, description: "The ASG (aws) or MIG (gcp) name." }),
    nodeLabels: Type.Unsafe<Record<string, string>>({
      type: "object",
      additionalProperties: { type: "string" },
      default: {},
      description: "Labels the pool's nodes carry; burst pods select them.",
    }),
    nodeTaints: Type.Array(Taint, { default: [], maxItems: 16 }),
    nodeCapacity: Type.Object({ cpu: Quantity, memory: Quantity }),
    minNodes: Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }),
    maxNodes: Type.Integer({ minimum: 0, maximum: 10_000 }),
    hourlyPriceUsd: Type.Number({ minimum: 0, description: "Expected spot price per node-hour." }),
  },
  {
    "x-kubernetes-validations": [
      { rule: "self.minNodes <= self.maxNodes", message: "minNodes must not exceed maxNodes" },
    ],
  },
);

export const BurstPoolStatus = Type.Object({
  currentNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  desiredNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  observedGeneration: Type.Optional(Type.Integer()),
});

export type BurstPoolSpec = Static<typeof BurstPoolSpec>;
export type BurstPoolStatus = Static<typeof BurstPoolStatus>;
