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

/**
 * The server's options as environment variables: the pod template the operator writes sets them, the
 * server reads them (src/inference/config.ts), the CRD refuses the two that have fields of their own.
 */
export const SERVER_ENV = {
  model: "SPILLWAY_MODEL",
  modelSha256: "SPILLWAY_MODEL_SHA256",
  modelId: "SPILLWAY_MODEL_ID",
  servedModelNames: "SPILLWAY_SERVED_MODEL_NAMES",
  contextSize: "SPILLWAY_CONTEXT_SIZE",
  parallel: "SPILLWAY_PARALLEL",
  threads: "SPILLWAY_THREADS",
  batchSize: "SPILLWAY_BATCH_SIZE",
  maxQueue: "SPILLWAY_MAX_QUEUE",
  requestTimeoutSeconds: "SPILLWAY_REQUEST_TIMEOUT_SECONDS",
  drainGraceSeconds: "SPILLWAY_DRAIN_GRACE_SECONDS",
  maxConnectionAgeSeconds: "SPILLWAY_MAX_CONNECTION_AGE_SECONDS",
  port: "SPILLWAY_PORT",
  host: "SPILLWAY_HOST",
  cacheDir: "SPILLWAY_CACHE_DIR",
  logLevel: "SPILLWAY_LOG_LEVEL",
  /** Environment only, so it never shows in a process list; or a file holding it. */
  apiKey: "SPILLWAY_API_KEY",
  apiKeyFile: "SPILLWAY_API_KEY_FILE",
} as const;

/** Metrics the operator's load source reads from each ready pod. */
export const SERVER_METRICS = {
  slotsBusy: "spillway_inference_slots_busy",
  slotsTotal: "spillway_inference_slots_total",
  queueDepth: "spillway_inference_queue_depth",
  generatedTokens: "spillway_inference_generated_tokens_total",
  /** 1 once the model is loaded, labelled with the sha256 of the file the server loaded. */
  modelInfo: "spillway_inference_model_info",
} as const;

/**
 * Why a server could not load its model, as the first word of its termination message: the server writes
 * `<Reason>: <detail>` to the container's termination log before it exits, the kubelet puts it in the
 * pod's status, and the operator's Ready condition repeats it.
 */
export const MODEL_FAILURE_REASONS = [
  "ModelChecksumMismatch",
  "ModelNotFound",
  "ModelInvalid",
  "ModelDownloadFailed",
  "ModelLoadFailed",
] as const;
export type ModelFailureReason = (typeof MODEL_FAILURE_REASONS)[number];

/** Kubernetes' default terminationMessagePath; the server writes there only when the file exists. */
export const TERMINATION_LOG = "/dev/termination-log";

export function terminationMessage(reason: ModelFailureReason, detail: string): string {
  // The kubelet keeps at most 4096 bytes.
  return `${reason}: ${detail}`.slice(0, 4096);
}

export function parseTerminationMessage(
  text: string | undefined,
): { reason: ModelFailureReason; message: string } | undefined {
  const m = /^([A-Za-z]+): ([\s\S]*)$/.exec(text?.trim() ?? "");
  const reason = MODEL_FAILURE_REASONS.find((r) => r === m?.[1]);
  return reason && m ? { reason, message: m[2] ?? "" } : undefined;
}
