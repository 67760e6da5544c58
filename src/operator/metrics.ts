import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "spillway_operator_process_" });
  let sizes: () => Record<string, number> = () => ({});
  return {
    registry,
    /** What the controller holds, read at each scrape: a soak's leak check watches it return to its start. */
    setHeldObjects: (read: () => Record<string, number>) => {
      sizes = read;
    },
    heldObjects: new Gauge({
      name: "spillway_operator_held_objects",
      help: "Objects the operator holds in memory: each informer cache by API path, and each per-model table",
      labelNames: ["store"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [store, n] of Object.entries(sizes())) this.set({ store }, n);
      },
    }),
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
    desiredReplicas: new Gauge({
      name: "spillway_operator_desired_replicas",
      help: "Replicas the autoscaler asks for, by model and tier (base, burst)",
      labelNames: ["namespace", "model", "tier"] as const,
      registers: [registry],
    }),
    poolDecisions: new Counter({
      name: "spillway_operator_pool_actions_total",
      help: "Actions taken on BurstPool groups (scale_up, terminate)",
      labelNames: ["pool", "action"] as const,
      registers: [registry],
    }),
    poolFallbacks: new Counter({
      name: "spillway_operator_pool_fallbacks_total",
      help: "Pending burst pods sent to this pool because an earlier pool of their model was unavailable",
      labelNames: ["pool"] as const,
      registers: [registry],
    }),
    interruptions: new Counter({
      name: "spillway_operator_interruptions_total",
      help: "Spot interruption notices handled, by pool and kind",
      labelNames: ["pool", "kind"] as const,
      registers: [registry],
    }),
    poolNodes: new Gauge({
      name: "spillway_operator_pool_nodes",
      help: "Nodes of a BurstPool, desired and ready",
      labelNames: ["pool", "state"] as const,
      registers: [registry],
    }),
    poolSpend: new Gauge({
      name: "spillway_operator_pool_spend_usd_per_hour",
      help: "Instances launching or running in a BurstPool times its hourly price",
      labelNames: ["pool"] as const,
      registers: [registry],
    }),
    poolAvailable: new Gauge({
      name: "spillway_operator_pool_available",
      help: "1 while a BurstPool takes new demand, 0 while it is unavailable",
      labelNames: ["pool"] as const,
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
