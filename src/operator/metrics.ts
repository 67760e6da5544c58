import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "spillway_operator_process_" });
  return {
    registry,
    reconciles: new Counter({
      name: "spillway_operator_reconciles_total",
      help: "Reconciles by result (success, error, conflict)",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: "spillway_operator_reconcile_duration_seconds",
      help: "Time per reconcile",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "spillway_operator_queue_depth",
      help: "Keys waiting in the work queue",
      registers: [registry],
    }),
    writes: new Counter({
      name: "spillway_operator_api_writes_total",
      help: "Writes to the Kubernetes API by object kind",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    leader: new Gauge({
      name: "spillway_operator_leader",
      help: "1 while this replica holds the leader lease",
      registers: [registry],
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
