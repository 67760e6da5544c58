import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  PolicyV1Api,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
  type V1Deployment,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, VERSION } from "../api/common.js";
import type { InferenceModel } from "../api/inference-model.js";
import type { OperatorMetrics } from "./metrics.js";
import {
  FIELD_MANAGER,
  MODEL_LABEL,
  initialScale,
  names,
  plan,
  prune,
  type KubeObject,
  type PlanConfig,
} from "./plan.js";
import { WorkQueue } from "./queue.js";
import { computeStatus, type Observed, type ObservedDeployment } from "./status.js";

/**
 * Informers → keyed work queue → reconcile, one model at a time per key. Reconcile is idempotent: it
 * applies (server-side, field manager `spillway`) only objects that differ from what is observed, and
 * writes status once, only when it changed. Errors and 409 conflicts come back through the queue's
 * backoff; a watch that breaks is restarted, never fatal.
 */

const MANAGED = "app.kubernetes.io/managed-by=spillway";
const NOTABLE_CONDITIONS = new Set(["Ready", "Degraded", "Bursting"]);
const PLURAL = "inferencemodels";

type Cached<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  plan: PlanConfig;
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  /** Every this many seconds all models are reconciled again (0: never), in case an event was missed. */
  resyncSeconds: number;
  workers: number;
  log: Logger;
  metrics: OperatorMetrics;
  now?: () => Date;
}

/** True when every field set in `want` has the same value in `have` (which may hold more, e.g. defaults). */
export function isSubset(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(have) && want.length === have.length && want.every((w, i) => isSubset(w, have[i]));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object") return false;
    return Object.entries(want).every(([k, v]) => isSubset(v, (have as Record<string, unknown>)[k]));
  }
  return want === have;
}

function observeDeployment(d: V1Deployment | undefined): ObservedDeployment | undefined {
  if (!d) return undefined;
  const conds = d.status?.conditions ?? [];
  const stuck = conds.find((c) => c.type === "Progressing" && c.status === "False");
  const replicaFailure = conds.find((c) => c.type === "ReplicaFailure" && c.status === "True");
  const failure = stuck ?? replicaFailure;
  return {
    replicas: d.spec?.replicas ?? 0,
    readyReplicas: d.status?.readyReplicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    upToDate: (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0),
    failure: failure ? { reason: failure.reason ?? "Failed", message: failure.message ?? "" } : undefined,
  };
}

export class Controller {
  private readonly queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly informers: Cached<KubernetesObject>[] = [];
  private models: Cached<InferenceModel>[] = [];
  private deployments!: Cached<V1Deployment>;
  /** Caches of the owned kinds, by kind, for comparing what is planned with what exists. */
  private readonly owned: Partial<Record<string, Cached<KubernetesObject>>> = {};
  private running = false;
  private resync: NodeJS.Timeout | undefined;
  private workers: Promise<void>[] = [];
  private readonly now: () => Date;

  constructor(private readonly o: ControllerOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(o.kubeConfig);
    this.custom = o.kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = o.kubeConfig.makeApiClient(AppsV1Api);
    this.now = o.now ?? (() => new Date());
  }

  private watch<T extends KubernetesObject>(
    path: string,
    list: () => Promise<{ items: T[] }>,
    onEvent: (obj: T) => void,
    labelSelector?: string,
  ) {
    const informer = makeInformer<T>(this.o.kubeConfig, path, list, labelSelector) as Cached<T>;
    // The cache keeps the very object the callbacks get: dropping managedFields here keeps it out of
    // memory (most of a cached Deployment), as controller-runtime's TransformStripManagedFields does.
    // Nothing here reads them; server-side apply works from the API server's copy.
    const strip = (obj: T) => {
      delete obj.metadata?.managedFields;
    };
    informer.on("add", strip);
    informer.on("update", strip);
    for (const verb of ["add", "update", "delete"]) informer.on(verb, onEvent);
    informer.on("error", (err: unknown) => {
      if (!this.running) return;
      this.o.log.warn({ path, err: String(err) }, "watch broke; restarting");
      setTimeout(() => {
        if (this.running) void informer.start().catch(() => undefined);
      }, 2000);
    });
    this.informers.push(informer);
    return informer;
  }

  private enqueueOwned = (obj: KubernetesObject) => {
    const model = obj.metadata?.labels?.[MODEL_LABEL];
    if (model && obj.metadata?.namespace) this.queue.add(`${obj.metadata.namespace}/${model}`);
  };

  async start(): Promise<void> {
    this.running = true;
    const policy = this.o.kubeConfig.makeApiClient(PolicyV1Api);
    const enqueueModel = (m: InferenceModel) => {
      this.queue.add(`${m.metadata.namespace}/${m.metadata.name}`);
    };
    const scopes = this.o.namespaces.length ? this.o.namespaces : [undefined];
    this.models = scopes.map((ns) =>
      this.watch<InferenceModel>(
        ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`,
        () =>
          (ns
            ? this.custom.listNamespacedCustomObject({
                group: GROUP,
                version: VERSION,
                namespace: ns,
                plural: PLURAL,
              })
            : this.custom.listClusterCustomObject({
                group: GROUP,
                version: VERSION,
                plural: PLURAL,
              })) as Promise<{
            items: InferenceModel[];
          }>,
        enqueueModel,
      ),
    );
    // Owned objects: a change made by anyone else (a hand edit, a deletion) brings the model back here.
    this.deployments = this.watch<V1Deployment>(
      "/apis/apps/v1/deployments",
      () => this.apps.listDeploymentForAllNamespaces({ labelSelector: MANAGED }),
      this.enqueueOwned,
      MANAGED,
    );
    this.owned.Service = this.watch(
      "/api/v1/services",
      () => this.core.listServiceForAllNamespaces({ labelSelector: MANAGED }),
      this.enqueueOwned,
      MANAGED,
    );
    this.owned.PodDisruptionBudget = this.watch(
      "/apis/policy/v1/poddisruptionbudgets",
      () => policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: MANAGED }),
      this.enqueueOwned,
      MANAGED,
    );
    this.owned.Deployment = this.deployments;
    await Promise.all(this.informers.map((i) => i.start()));
    this.workers = Array.from({ length: this.o.workers }, () => this.work());
    if (this.o.resyncSeconds > 0) {
      this.resync = setInterval(() => {
        for (const cache of this.models)
          for (const m of cache.list()) this.queue.add(`${m.metadata.namespace}/${m.metadata.name}`);
      }, this.o.resyncSeconds * 1000);
    }
    this.o.log.info(
      { namespaces: this.o.namespaces.length ? this.o.namespaces : "all" },
      "controller started",
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.resync);
    this.queue.shutdown();
    await Promise.all(this.informers.map((i) => i.stop()));
    await Promise.all(this.workers);
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  private async work(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      const end = this.o.metrics.reconcileDuration.startTimer();
      this.o.metrics.queueDepth.set(this.queue.length);
      try {
        await this.reconcile(key);
        this.queue.done(key, true);
        this.o.metrics.reconciles.inc({ result: "success" });
      } catch (err) {
        const delay = this.queue.done(key, false);
        const code = (err as { code?: number }).code;
        this.o.metrics.reconciles.inc({ result: code === 409 ? "conflict" : "error" });
        this.o.log[code === 409 ? "debug" : "error"](
          { key, err: String(err), retryInMs: delay },
          "reconcile failed",
        );
      } finally {
        end();
      }
    }
  }

  private findModel(namespace: string, name: string): InferenceModel | undefined {
    for (const cache of this.models) {
      const m = cache.get(name, namespace);
      if (m) return m;
    }
    return undefined;
  }

  private cached(obj: KubeObject): KubernetesObject | undefined {
    return this.owned[obj.kind]?.get(obj.metadata.name, obj.metadata.namespace);
  }

  async reconcile(key: string): Promise<void> {
    const [namespace = "", name = ""] = key.split("/");
    const model = this.findModel(namespace, name);
    // Gone or going: owner references let the garbage collector remove what we made.
    if (!model || model.metadata.deletionTimestamp) return;
    const scale = initialScale(model);

    // The objects are independent: apply the ones that differ concurrently.
    const stale = plan(model, scale, this.o.plan).filter((obj) => !isSubset(obj, this.cached(obj)));
    await Promise.all(
      stale.map(async (obj) => {
        await this.objects.patch(
          obj as KubernetesObject,
          undefined,
          undefined,
          FIELD_MANAGER,
          true,
          PatchStrategy.ServerSideApply,
        );
        this.o.metrics.writes.inc({ kind: obj.kind });
        this.o.log.info({ model: key, kind: obj.kind, name: obj.metadata.name }, "applied");
      }),
    );

    for (const gone of prune(model)) {
      if (!this.deployments.get(gone.name, namespace)) continue;
      await this.apps.deleteNamespacedDeployment({
        name: gone.name,
        namespace,
        propagationPolicy: "Background",
      });
      this.o.metrics.writes.inc({ kind: "Deployment/delete" });
      this.o.log.info({ model: key, kind: gone.kind, name: gone.name }, "deleted");
    }

    const observed: Observed = {
      base: observeDeployment(this.deployments.get(names.deployment(name, "base"), namespace)),
      burst: observeDeployment(this.deployments.get(names.deployment(name, "burst"), namespace)),
    };
    // Just created and not in the cache yet: its add event brings the model straight back, with something
    // to report. Writing "DeploymentMissing" now would only cost a status write and an Event.
    if (!observed.base && stale.some((o) => o.kind === "Deployment")) return;
    const status = computeStatus(
      model,
      observed,
      scale,
      this.now()
        .toISOString()
        .replace(/\.\d+Z$/, "Z"),
    );
    if (isDeepStrictEqual(status, model.status)) return;
    // resourceVersion makes this an optimistic write: a stale cache gets 409 and a retry, not a lost update.
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { metadata: { resourceVersion: model.metadata.resourceVersion }, status },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    this.o.metrics.writes.inc({ kind: "InferenceModel/status" });
    await this.recordTransitions(model, status.conditions ?? []);
  }

  /**
   * An Event for each flip of Ready, Degraded or Bursting, so `kubectl describe im` tells the story.
   * Progressing flips with every rollout and the Deployment controller already reports those.
   */
  private async recordTransitions(
    model: InferenceModel,
    next: NonNullable<InferenceModel["status"]>["conditions"] = [],
  ) {
    const before = new Map((model.status?.conditions ?? []).map((c) => [c.type, c.status]));
    for (const c of next) {
      if (!NOTABLE_CONDITIONS.has(c.type) || before.get(c.type) === c.status) continue;
      // A condition's first value is not a transition; Ready turning True for the first time is.
      if (!before.has(c.type) && !(c.type === "Ready" && c.status === "True")) continue;
      const warning =
        (c.type === "Ready" && c.status === "False" && before.get("Ready") === "True") ||
        (c.type === "Degraded" && c.status === "True");
      const now = this.now().toISOString();
      await this.core
        .createNamespacedEvent({
          namespace: model.metadata.namespace,
          body: {
            metadata: {
              name: `${model.metadata.name}.${randomBytes(6).toString("hex")}`,
              namespace: model.metadata.namespace,
            },
            involvedObject: {
              apiVersion: model.apiVersion,
              kind: model.kind,
              name: model.metadata.name,
              namespace: model.metadata.namespace,
              uid: model.metadata.uid,
            },
            type: warning ? "Warning" : "Normal",
            reason: c.reason,
            message: `${c.type} is ${c.status}: ${c.message}`,
            source: { component: "spillway-operator" },
            firstTimestamp: new Date(now),
            lastTimestamp: new Date(now),
            count: 1,
          },
        })
        .catch((err: unknown) => {
          this.o.log.warn({ err: String(err) }, "could not record event");
        });
      this.o.metrics.writes.inc({ kind: "Event" });
    }
  }
}
