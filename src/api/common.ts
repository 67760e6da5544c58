import { Type, type Static } from "@sinclair/typebox";
import { QUANTITY_PATTERN } from "./quantity.js";

/** API group and version of every Spillway resource. */
export const GROUP = "spillway.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A Kubernetes quantity ("500m", "2", "4Gi"), as int-or-string like core/v1 does. */
export const Quantity = Type.Unsafe<string | number>({
  "x-kubernetes-int-or-string": true,
  anyOf: [{ type: "integer" }, { type: "string" }],
  pattern: QUANTITY_PATTERN,
});

const ResourceList = Type.Object({ cpu: Type.Optional(Quantity), memory: Type.Optional(Quantity) });

export const ResourceRequirements = Type.Object({
  requests: Type.Optional(ResourceList),
  limits: Type.Optional(ResourceList),
});
export type ResourceRequirements = Static<typeof ResourceRequirements>;

export const SecretKeyRef = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  key: Type.String({ minLength: 1, maxLength: 253 }),
});

/** metav1.Condition. */
export const Condition = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 316 }),
  status: Type.Unsafe<"True" | "False" | "Unknown">({ type: "string", enum: ["True", "False", "Unknown"] }),
  reason: Type.String({ minLength: 1, maxLength: 1024 }),
  message: Type.String({ maxLength: 32_768 }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  lastTransitionTime: Type.String({ format: "date-time" }),
});
export type Condition = Static<typeof Condition>;

export const Taint = Type.Object({
  key: Type.String({ minLength: 1, maxLength: 316 }),
  value: Type.Optional(Type.String({ maxLength: 63 })),
  effect: Type.Unsafe<"NoSchedule" | "PreferNoSchedule" | "NoExecute">({
    type: "string",
    enum: ["NoSchedule", "PreferNoSchedule", "NoExecute"],
  }),
});
