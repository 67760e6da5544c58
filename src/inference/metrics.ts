import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { SERVER_METRICS } from "../api/server.js";

/** The inference server's Prometheus metrics, on a registry of its own (one per app instance). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "spillway_inference_process_" });
  const m = {
    registry,
    requests: new Counter({
      name: "spillway_inference_requests_total",
      help: "HTTP requests by route and status code",
      labelNames: ["route", "status"] as const,
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: "spillway_inference_requests_in_flight",
      help: "Generation requests being handled: waiting in the queue or holding a slot (slots_busy counts those)",
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: SERVER_METRICS.queueDepth,
      help: "Generation requests waiting for a slot",
      registers: [registry],
    }),
    slotsBusy: new Gauge({
      name: SERVER_METRICS.slotsBusy,
      help: "Busy slots",
      registers: [registry],
    }),
    slotsTotal: new Gauge({
      name: SERVER_METRICS.slotsTotal,
      help: "Slots (parallel sequences)",
      registers: [registry],
    }),
    promptTokens: new Counter({
      name: "spillway_inference_prompt_tokens_total",
      help: "Prompt tokens evaluated",
      registers: [registry],
    }),
    generatedTokens: new Counter({
      name: SERVER_METRICS.generatedTokens,
      help: "Tokens generated",
      registers: [registry],
    }),
    timeToFirstToken: new Histogram({
      name: "spillway_inference_time_to_first_token_seconds",
      help: "From request arrival to the first generated token",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "spillway_inference_request_duration_seconds",
      help: "Generation request duration, by route",
      labelNames: ["route"] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    modelInfo: new Gauge({
      name: SERVER_METRICS.modelInfo,
      help: "1 once the model is loaded; its sha256 as a label",
      labelNames: ["sha256"] as const,
      registers: [registry],
    }),
    modelLoadSeconds: new Gauge({
      name: "spillway_inference_model_load_seconds",
      help: "Time to fetch, load and warm the model",
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
