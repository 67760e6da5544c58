import { API_VERSION } from "../api/common.js";
import type { InferenceModel } from "../api/inference-model.js";
import { MANAGED_BY, MODEL_LABEL, POOL_LABEL, SPOT_TAINT_KEY, TIER_LABEL } from "../api/labels.js";
import { SERVER_ENV, SERVER_PATHS, SERVER_PORT } from "../api/server.js";

export { MODEL_LABEL, SPOT_TAINT_KEY, TIER_LABEL, SERVER_PORT };

/**
 * The desired state of one InferenceModel, as a pure function: no I/O, so it is table-tested and the
 * apply layer stays thin. Everything it returns is server-side applied with field manager `spillway` and
 * owned by the model, so deleting the model garbage-collects it.
 */

export const FIELD_MANAGER = "spillway";
const CACHE_DIR = "/var/cache/spillway";

export interface PlanConfig {
  /** Image for models that do not name one. */
  defaultImage: string;
  /** Seconds an in-flight request may take to finish after SIGTERM. */
  drainGraceSeconds: number;
  /** Size limit of the per-pod model cache volume. */
  modelCacheSize: string;
}

/** Replicas per tier, as the autoscaler decides them (src/operator/autoscale.ts). */
export interface Scale {
  base: number;
  burst: number;
}

export type Tier = "base" | "burst";

// The Kubernetes objects are plain JSON: what the planner returns is exactly what is applied.
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences: unknown[] };
} & Record<string, unknown>;

export const names = {
  deployment: (model: string, tier: Tier) => `${model}-${tier}`,
  service: (model: string) => model,
  pdb: (model: string) => model,
};

export function endpoint(model: InferenceModel): string {
  return `http://${names.service(model.metadata.name)}.${model.metadata.namespace}.svc:${SERVER_PORT}/v1`;
}

function labels(model: InferenceModel, tier?: Tier): Record<string, string> {
  return {
    "app.kubernetes.io/name": "spillway-inference",
    "app.kubernetes.io/instance": model.metadata.name,
    [MANAGED_BY.key]: MANAGED_BY.value,
    [MODEL_LABEL]: model.metadata.name,
    ...(tier ? { [TIER_LABEL]: tier } : {}),
  };
}

function ownerReference(model: InferenceModel) {
  return {
    apiVersion: API_VERSION,
    kind: "InferenceModel",
    name: model.metadata.name,
    uid: model.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The server's configuration, as the environment variables it reads (src/inference/config.ts). */
function serverEnv(model: InferenceModel, config: PlanConfig) {
  const { model: m, server } = model.spec;
  const env: Record<string, unknown>[] = [
    { name: SERVER_ENV.model, value: m.uri },
    { name: SERVER_ENV.modelId, value: model.metadata.name },
    { name: SERVER_ENV.contextSize, value: String(m.contextSize) },
    { name: SERVER_ENV.parallel, value: String(server.parallel) },
    { name: SERVER_ENV.host, value: "0.0.0.0" },
    { name: SERVER_ENV.port, value: String(SERVER_PORT) },
    { name: SERVER_ENV.cacheDir, value: CACHE_DIR },
    { name: SERVER_ENV.drainGraceSeconds, value: String(config.drainGraceSeconds) },
  ];
  if (m.sha256) env.push({ name: SERVER_ENV.modelSha256, value: m.sha256 });
  if (server.threads !== undefined) env.push({ name: SERVER_ENV.threads, value: String(server.threads) });
  if (server.servedModelNames?.length) {
    env.push({ name: SERVER_ENV.servedModelNames, value: server.servedModelNames.join(",") });
  }
  if (server.apiKeySecretRef) {
    env.push({
      name: SERVER_ENV.apiKey,
      valueFrom: { secretKeyRef: { name: server.apiKeySecretRef.name, key: server.apiKeySecretRef.key } },
    });
  }
  for (const e of server.env ?? []) env.push({ name: e.name, value: e.value });
  return env;
}

const DEFAULT_RESOURCES = { requests: { cpu: "1", memory: "1Gi" }, limits: { memory: "2Gi" } };

/** What one server pod asks the scheduler for. */
export function podRequests(model: InferenceModel): { cpu?: string | number; memory?: string | number } {
  // Kubernetes defaults requests to limits when only limits are set.
  const r = model.spec.server.resources ?? DEFAULT_RESOURCES;
  return r.requests ?? r.limits ?? {};
}

function podTemplate(model: InferenceModel, tier: Tier, config: PlanConfig) {
  // Burst replicas go only to the pools the model names, so the pool controller's sizing and the
  // scheduler's placement agree.
  const tierTerm = {
    matchExpressions: [
      { key: TIER_LABEL, operator: "In", values: [tier] },
      ...(tier === "burst"
        ? [{ key: POOL_LABEL, operator: "In", values: model.spec.replicas.burst.pools }]
        : []),
    ],
  };
  return {
    metadata: { labels: labels(model, tier) },
    spec: {
      automountServiceAccountToken: false,
      // Drain: the server stops taking work on SIGTERM and finishes what it has; preStop first gives
      // endpoints time to drop the pod, so no new request races the shutdown.
      terminationGracePeriodSeconds: config.drainGraceSeconds + 15,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        fsGroup: 10001,
        seccompProfile: { type: "RuntimeDefault" },
      },
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [tierTerm] } },
      },
      ...(tier === "burst"
        ? { tolerations: [{ key: SPOT_TAINT_KEY, operator: "Equal", value: "true", effect: "NoSchedule" }] }
        : {}),
      containers: [
        {
          name: "server",
          image: model.spec.server.image ?? config.defaultImage,
          ports: [{ name: "http", containerPort: SERVER_PORT, protocol: "TCP" }],
          env: serverEnv(model, config),
          resources: model.spec.server.resources ?? DEFAULT_RESOURCES,
          readinessProbe: {
            httpGet: { path: SERVER_PATHS.ready, port: "http" },
            periodSeconds: 5,
            failureThreshold: 2,
          },
          livenessProbe: {
            httpGet: { path: SERVER_PATHS.health, port: "http" },
            periodSeconds: 10,
            failureThreshold: 3,
          },
          lifecycle: { preStop: { sleep: { seconds: 5 } } },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
          volumeMounts: [
            { name: "model-cache", mountPath: CACHE_DIR },
            { name: "tmp", mountPath: "/tmp" },
          ],
        },
      ],
      volumes: [
        { name: "model-cache", emptyDir: { sizeLimit: config.modelCacheSize } },
        { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
      ],
    },
  };
}

function deployment(model: InferenceModel, tier: Tier, replicas: number, config: PlanConfig): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: names.deployment(model.metadata.name, tier),
      namespace: model.metadata.namespace,
      labels: labels(model, tier),
      ownerReferences: [ownerReference(model)],
    },
    spec: {
      replicas,
      revisionHistoryLimit: 3,
      selector: { matchLabels: { [MODEL_LABEL]: model.metadata.name, [TIER_LABEL]: tier } },
      // Capacity first: a new replica must be ready before an old one goes.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: podTemplate(model, tier, config),
    },
  };
}

/** True when the model may run replicas on spot capacity at all. */
export function mayBurst(model: InferenceModel): boolean {
  return model.spec.replicas.burst.max > 0;
}

/**
 * Objects to apply for the model at the given scale. A model that may not burst gets no burst Deployment
 * (it would only be an empty Deployment and ReplicaSet for every model); see `prune` for the reverse.
 */
export function plan(model: InferenceModel, scale: Scale, config: PlanConfig): KubeObject[] {
  const meta = (name: string) => ({
    name,
    namespace: model.metadata.namespace,
    labels: labels(model),
    ownerReferences: [ownerReference(model)],
  });
  return [
    deployment(model, "base", scale.base, config),
    ...(mayBurst(model) ? [deployment(model, "burst", scale.burst, config)] : []),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(names.service(model.metadata.name)),
      spec: {
        type: "ClusterIP",
        selector: { [MODEL_LABEL]: model.metadata.name },
        ports: [{ name: "http", port: SERVER_PORT, targetPort: "http", protocol: "TCP" }],
      },
    },
    {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta(names.pdb(model.metadata.name)),
      spec: { maxUnavailable: 1, selector: { matchLabels: { [MODEL_LABEL]: model.metadata.name } } },
    },
  ];
}

/** Owned objects that must not exist: the burst Deployment of a model that may no longer burst. */
export function prune(model: InferenceModel): { kind: "Deployment"; name: string }[] {
  return mayBurst(model)
    ? []
    : [{ kind: "Deployment", name: names.deployment(model.metadata.name, "burst") }];
}

/** The scale before any load is known: base at its minimum, no burst (what the operator benchmark applies). */
export function initialScale(model: InferenceModel): Scale {
  return { base: model.spec.replicas.base.min, burst: 0 };
}
