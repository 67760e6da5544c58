/**
 * The inference server's contract with the operator: the port and paths the pods expose and the
 * Prometheus metrics the autoscaler reads. Both sides import these names.
 */
export const SERVER_PORT = 8080;

export const SERVER_PATHS = {
  health: "/health",
  ready: "/ready",
  metrics: "/metrics",
} as const;

/** Metrics the operator's load source reads from each ready pod. */
export const SERVER_METRICS = {
  slotsBusy: "spillway_inference_slots_busy",
  slotsTotal: "spillway_inference_slots_total",
  queueDepth: "spillway_inference_queue_depth",
  generatedTokens: "spillway_inference_generated_tokens_total",
} as const;
