/**
 * Label and taint names shared by the operator, the local cluster's simulated nodes and the
 * infrastructure stacks' cloud-init: one name for one thing.
 */

/** `base` (Hetzner) or `burst` (spot) on every node; the planner's node affinity selects on it. */
export const TIER_LABEL = "spillway.dev/tier";
/** `hetzner`, `aws` or `gcp`. */
export const PROVIDER_LABEL = "spillway.dev/provider";
/** The BurstPool a spot node belongs to. */
export const POOL_LABEL = "spillway.dev/pool";
/** `spillway.dev/spot=true:NoSchedule` on spot nodes, so only pods that tolerate it land there. */
export const SPOT_TAINT_KEY = "spillway.dev/spot";
/** The InferenceModel an owned object belongs to. */
export const MODEL_LABEL = "spillway.dev/model";
/** Every object the operator makes carries `app.kubernetes.io/managed-by: spillway`; its informers select on it. */
export const MANAGED_BY = { key: "app.kubernetes.io/managed-by", value: "spillway" } as const;

/** The taint GKE's node termination handler puts on the node of a preempted VM as its soft off begins. */
export const IMPENDING_TERMINATION_TAINT = "cloud.google.com/impending-node-termination";
