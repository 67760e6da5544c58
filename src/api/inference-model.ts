import { Type, type Static } from "@sinclair/typebox";
import { Condition, ResourceRequirements, SecretKeyRef } from "./common.js";
import { SERVER_ENV } from "./server.js";

/**
 * InferenceModel (spillway.dev/v1alpha1, namespaced, short name `im`): one model served by the Spillway
 * inference server on a base tier (Hetzner nodes) and a burst tier (spot nodes). This schema is the one
 * source of truth: the CRD's OpenAPI schema, its defaults and CEL rules, and the operator's types.
 */

export const MODEL_URI_SCHEMES = ["https", "http", "s3", "gs", "file"] as const;

const ModelSource = Type.Object(
  {
    uri: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: "Where the GGUF file is: https://, s3://, gs:// or file:// (a path inside the pod).",
      "x-kubernetes-validations": [
        {
          rule: `self.matches('^(${MODEL_URI_SCHEMES.join("|")})://.+')`,
          message: `model.uri must start with one of ${MODEL_URI_SCHEMES.map((s) => `${s}://`).join(", ")}`,
        },
      ],
    }),
    sha256: Type.Optional(
      Type.String({
        pattern: "^[a-f0-9]{64}$",
        description: "Lowercase hex sha256 of the file; verified before loading.",
      }),
    ),
    contextSize: Type.Integer({
      minimum: 128,
      maximum: 1_048_576,
      default: 2048,
      description: "Tokens per slot.",
    }),
    format: Type.Unsafe<"gguf">({ type: "string", enum: ["gguf"], default: "gguf" }),
  },
  { description: "The model file to serve." },
);

const EnvVar = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256, pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }),
  value: Type.String({ maxLength: 4096 }),
});

const Server = Type.Object(
  {
    image: Type.Optional(
      Type.String({ minLength: 1, description: "Defaults to the operator's configured image." }),
    ),
    parallel: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 4,
      description: "Slots: requests decoded together.",
    }),
    threads: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1024, description: "0 or unset: chosen by the server." }),
    ),
    servedModelNames: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: "^[^,\\s]+$" }), {
        maxItems: 16,
        description:
          "Other names requests may use for this model besides metadata.name (e.g. a client's default " +
          'model name); "*" accepts any name, as llama.cpp\'s server does. Responses carry metadata.name.',
      }),
    ),
    resources: Type.Optional(ResourceRequirements),
    env: Type.Optional(
      Type.Array(EnvVar, {
        maxItems: 64,
        description: "Extra environment for the server (SPILLWAY_* options not set by the operator).",
        "x-kubernetes-validations": [
          {
            rule: `self.all(e, e.name != '${SERVER_ENV.apiKey}' && e.name != '${SERVER_ENV.model}')`,
            message: `server.env must not set ${SERVER_ENV.apiKey} (use apiKeySecretRef) or ${SERVER_ENV.model} (use model.uri)`,
          },
        ],
      }),
    ),
    apiKeySecretRef: Type.Optional(SecretKeyRef),
  },
  { default: {} },
);

const TierRange = (def: { min: number; max: number }) =>
  Type.Object(
    {
      min: Type.Integer({ minimum: 0, maximum: 1000, default: def.min }),
      max: Type.Integer({ minimum: 0, maximum: 1000, default: def.max }),
    },
    // Complete defaults: the API server runs the CEL rules against them too.
    {
      default: def,
      "x-kubernetes-validations": [{ rule: "self.min <= self.max", message: "min must not exceed max" }],
    },
  );

const Replicas = Type.Object(
  {
    base: TierRange({ min: 1, max: 1 }),
    burst: Type.Object(
      {
        min: Type.Integer({
          minimum: 0,
          maximum: 1000,
          default: 0,
          description:
            "Burst replicas kept whatever the load: spot capacity held warm, or a smoke run's replica on a spot node.",
        }),
        max: Type.Integer({ minimum: 0, maximum: 1000, default: 0 }),
        pools: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
          default: [],
          maxItems: 16,
          description: "BurstPool names whose spot nodes may run burst replicas.",
        }),
      },
      {
        default: { min: 0, max: 0, pools: [] },
        "x-kubernetes-validations": [
          { rule: "self.min <= self.max", message: "burst.min must not exceed burst.max" },
          {
            rule: "self.max == 0 || size(self.pools) > 0",
            message: "burst.pools must name a BurstPool when burst.max > 0",
          },
        ],
      },
    ),
  },
  { default: {} },
);

export const AUTOSCALING_METRICS = ["inFlight", "queueDepth", "tokensPerSecond"] as const;

const Autoscaling = Type.Object(
  {
    metric: Type.Unsafe<(typeof AUTOSCALING_METRICS)[number]>({
      type: "string",
      enum: [...AUTOSCALING_METRICS],
      default: "inFlight",
    }),
    // OpenAPI v3 as Kubernetes reads it: exclusiveMinimum is a flag on minimum.
    target: Type.Unsafe<number>({
      type: "number",
      minimum: 0,
      exclusiveMinimum: true,
      default: 4,
      description: "Desired metric value per replica.",
    }),
    scaleUpStabilizationSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 0 }),
    scaleDownStabilizationSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 300 }),
  },
  {
    description:
      "Load-driven scaling from the pods' own /metrics. Unset: base.min replicas, and burst only for base replicas that do not fit.",
  },
);

const Budget = Type.Object(
  {
    maxSpotHourlyUsd: Type.Optional(
      Type.Number({ minimum: 0, description: "Cap on spot spend for this model." }),
    ),
  },
  { default: {} },
);

export const InferenceModelSpec = Type.Object({
  model: ModelSource,
  server: Server,
  replicas: Replicas,
  autoscaling: Type.Optional(Autoscaling),
  budget: Budget,
});

const TierStatus = Type.Object({
  desired: Type.Integer({ minimum: 0 }),
  ready: Type.Integer({ minimum: 0 }),
  /** "ready/desired", for `kubectl get`. */
  summary: Type.Optional(Type.String()),
});

export const InferenceModelStatus = Type.Object({
  observedGeneration: Type.Optional(Type.Integer()),
  conditions: Type.Optional(
    Type.Array(Condition, { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] }),
  ),
  replicas: Type.Optional(Type.Object({ base: TierStatus, burst: TierStatus })),
  autoscaling: Type.Optional(
    Type.Object({
      desiredReplicas: Type.Integer({ minimum: 0, description: "Replicas the load asks for, both tiers." }),
      unreadablePods: Type.Integer({
        minimum: 0,
        description: "Ready pods whose /metrics could not be read (counted as at target).",
      }),
    }),
  ),
  endpoint: Type.Optional(Type.String()),
  modelDigest: Type.Optional(
    Type.String({ description: "sha256 of the model file, as the servers report having loaded it." }),
  ),
});

export type InferenceModelSpec = Static<typeof InferenceModelSpec>;
export type InferenceModelStatus = Static<typeof InferenceModelStatus>;

export interface InferenceModel {
  apiVersion: "spillway.dev/v1alpha1";
  kind: "InferenceModel";
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    // The API sends a string; the Kubernetes client types it as a Date. Only its presence matters here.
    deletionTimestamp?: Date;
  };
  spec: InferenceModelSpec;
  status?: InferenceModelStatus;
}
