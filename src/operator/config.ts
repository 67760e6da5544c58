import { readFileSync } from "node:fs";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse } from "yaml";
import { DEFAULT_METRICS_URL } from "./load.js";
import type { PlanConfig } from "./plan.js";
import type { PoolsConfig } from "./pools/decide.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** The operator's configuration: one YAML file (the chart renders it), validated once. */
export const OperatorConfigSchema = Type.Object({
  defaultImage: Type.String({ minLength: 1, default: "localhost/spillway-inference:0.1.0" }),
  /** Namespaces whose InferenceModels are reconciled; empty: all. */
  namespaces: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  resyncSeconds: Type.Integer({ minimum: 0, default: 600 }),
  workers: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  drainGraceSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
  modelCacheSize: Type.String({ default: "20Gi" }),
  leaderElection: Type.Object(
    {
      enabled: Type.Boolean({ default: true }),
      namespace: Type.String({ default: "spillway-system" }),
      leaseName: Type.String({ default: "spillway-operator" }),
      leaseDurationSeconds: Type.Integer({ minimum: 2, default: 15 }),
      renewSeconds: Type.Integer({ minimum: 1, default: 5 }),
    },
    { default: {} },
  ),
  /** The autoscaler's load signal: each ready pod's /metrics. */
  load: Type.Object(
    {
      intervalSeconds: Type.Number({ minimum: 0.2, maximum: 300, default: 5 }),
      timeoutMs: Type.Integer({ minimum: 50, maximum: 30_000, default: 1000 }),
      /** `{podIP}`, `{port}`, `{namespace}` and `{pod}` are filled in per pod. */
      metricsUrl: Type.String({ minLength: 1, default: DEFAULT_METRICS_URL }),
    },
    { default: {} },
  ),
  /** The BurstPool controller. */
  pools: Type.Object(
    {
      intervalSeconds: Type.Number({ minimum: 0.2, maximum: 300, default: 5 }),
      /**
       * The BurstPools this operator sizes, as equality labels (`team=ml,env=prod`). Unset: all of them
       * when it watches every namespace, else those its models name.
       */
      selector: Type.Optional(Type.String({ pattern: "^[^=,\\s]+=[^=,\\s]*(,[^=,\\s]+=[^=,\\s]*)*$" })),
      /** An instance that has not joined as a node by then makes its pool unavailable for the backoff. */
      joinTimeoutSeconds: Type.Integer({ minimum: 1, default: 600 }),
      backoffSeconds: Type.Integer({ minimum: 1, default: 300 }),
      /** How long a burst node stays empty before it is removed. */
      emptyNodeCooldownSeconds: Type.Integer({ minimum: 0, default: 120 }),
      /** This many spot interruptions within one backoff make a pool unavailable for the backoff. */
      interruptionsToBackoff: Type.Integer({ minimum: 1, default: 3 }),
      /**
       * Under an interruption notice, pods whose disruption budget refuses eviction are deleted after this
       * long: AWS gives 120 s, and a server pod needs up to drainGraceSeconds + 15 s to finish.
       */
      interruptionForceDrainSeconds: Type.Integer({ minimum: 0, default: 60 }),
      cloudTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
      aws: Type.Object(
        {
          enabled: Type.Boolean({ default: true }),
          /** An AWS endpoint other than the public one (an emulator); AWS_ENDPOINT_URL works too. */
          endpoint: Type.Optional(Type.String({ minLength: 1 })),
        },
        { default: {} },
      ),
      gcp: Type.Object(
        {
          enabled: Type.Boolean({ default: true }),
          /** A Compute API other than the public one (no credentials are sent to it). */
          endpoint: Type.Optional(Type.String({ minLength: 1 })),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  /** /healthz, /readyz, /metrics. */
  probePort: Type.Integer({ minimum: 0, maximum: 65_535, default: 8081 }),
  probeHost: Type.String({ default: "0.0.0.0" }),
  // The same levels the chart's values.schema.json allows (a test keeps them together).
  logLevel: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: "info" },
  ),
});

export type OperatorConfig = Static<typeof OperatorConfigSchema>;

export function parseOperatorConfig(raw: unknown, source = "config"): OperatorConfig {
  const config = Value.Default(OperatorConfigSchema, raw ?? {}) as OperatorConfig;
  const e = Value.Errors(OperatorConfigSchema, config).First();
  if (e) throw new Error(`${source}: ${e.path.slice(1).replaceAll("/", ".") || "(root)"}: ${e.message}`);
  return config;
}

export function loadOperatorConfig(path: string | undefined): OperatorConfig {
  if (!path) return parseOperatorConfig({});
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new Error(`${path}: cannot read the config file (${code})`, { cause: err });
  }
  return parseOperatorConfig(parse(text), path);
}

/** The part of the config the planner reads. */
export function planConfigOf(config: OperatorConfig): PlanConfig {
  return {
    defaultImage: config.defaultImage,
    drainGraceSeconds: config.drainGraceSeconds,
    modelCacheSize: config.modelCacheSize,
  };
}

/** The part of the config the BurstPool decision reads. */
export function poolsConfigOf(config: OperatorConfig): PoolsConfig {
  return {
    joinTimeoutMs: config.pools.joinTimeoutSeconds * 1000,
    backoffMs: config.pools.backoffSeconds * 1000,
    emptyNodeCooldownMs: config.pools.emptyNodeCooldownSeconds * 1000,
    interruptionsToBackoff: config.pools.interruptionsToBackoff,
    forceDrainAfterMs: config.pools.interruptionForceDrainSeconds * 1000,
  };
}
