import { readFileSync } from "node:fs";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse } from "yaml";
import type { PlanConfig } from "./plan.js";

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
  /** /healthz, /readyz, /metrics. */
  probePort: Type.Integer({ minimum: 0, maximum: 65_535, default: 8081 }),
  probeHost: Type.String({ default: "0.0.0.0" }),
  logLevel: Type.String({ default: "info" }),
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
  return parseOperatorConfig(parse(readFileSync(path, "utf8")), path);
}

/** The part of the config the planner reads. */
export function planConfigOf(config: OperatorConfig): PlanConfig {
  return {
    defaultImage: config.defaultImage,
    drainGraceSeconds: config.drainGraceSeconds,
    modelCacheSize: config.modelCacheSize,
  };
}
