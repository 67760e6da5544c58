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
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, VERSION } from "../api/common.js";
import type { InferenceModel } from "../api/inference-model.js";
import { MANAGED_BY, POOL_LABEL, TIER_LABEL } from "../api/labels.js";
import { parseTerminationMessage } from "../api/server.js";
import { statusOf } from "./api-error.js";
import type { PodLoad, Recommendation } from "./autoscale.js";
import { decideModel } from "./decide.js";
import { eventRecorder } from "./events.js";
import type { MetricsScraper } from "./load.js";
import type { OperatorMetrics } from "./metrics.js";
import { FIELD_MANAGER, MODEL_LABEL, names, type KubeObject, type PlanConfig } from "./plan.js";
import { PoolController, type BurstPool, type PoolControllerOptions } from "./pools/controller.js";
import { kubePoolWriter } from "./pools/writer.js";
import { WorkQueue } from "./queue.js";
import type { ObservedDeployment } from "./status.js";

/**
 * Informers → keyed work queue → reconcile, one model at a time per key. Reconcile is idempotent: it
 * applies (server-side, field manager `spillway`) only objects that differ from what is observed, and
 * writes status once, only when it changed. Errors and 409 conflicts come back through the queue's
 * backoff; a watch that breaks is restarted, never fatal.
 */

const MANAGED = `${MANAGED_BY.key}=${MANAGED_BY.value}`;
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
  /** Reads each ready pod's /metrics for the autoscaler. */
  scraper: MetricsScraper;
  loadIntervalSeconds: number;
  pools: Omit<PoolControllerOptions, "log" | "metrics" | "view" | "writer">;
  /** Equality labels choosing the BurstPools this operator sizes (config `pools.selector`). */
  poolSelector?: string | undefined;
  now?: () => Date;
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
  private readonly informerPaths = new Map<Cached<KubernetesObject>, string>();
  private models: Cached<InferenceModel>[] = [];
  private deployments!: Cached<V1Deployment>;
  private pods!: Cached<V1Pod>;
  private nodes!: Cached<V1Node>;
  private burstPools!: Cached<BurstPool>;
  private poolController: PoolController | undefined;
  /** The latest load sample and recent recommendations of each model, by namespace/name. */
  private readonly load = new Map<string, PodLoad[]>();
  /** The sha256 each ready pod's server reports having loaded, and how often one did not say. */
  private readonly podDigests = new Map<string, string>();
  private readonly digestTries = new Map<string, number>();
  /** Per model: the digest its ready pods agree on (status.modelDigest). */
  private readonly digests = new Map<string, string>();
  private readonly history = new Map<string, Recommendation[]>();
  /** Models whose scale waits on a stabilization window: reconciled every load round until it settles. */
  private readonly settling = new Set<string>();
  /** Base pods the scheduler could not place, by namespace/name. */
  private readonly unplacedPods = new Set<string>();
  /** Pods whose server left a model failure (modelFailure), so only changes to that reconcile. */
  private readonly failingPods = new Set<string>();
  /** The generation of each BurstPool last seen, to tell spec changes from status writes. */
  private readonly poolGenerations = new Map<string, number>();
  /** Pools a model of this operator named, kept in scope until their nodes are gone (see poolsInScope). */
  private readonly namedPools = new Set<string>();
  private loadTimer: NodeJS.Timeout | undefined;
  private sampling = false;
  /** Caches of the owned kinds, by kind, for comparing what is planned with what exists. */
  private readonly owned: Partial<Record<string, Cached<KubernetesObject>>> = {};
  private running = false;
  private resync: NodeJS.Timeout | undefined;
  private workers: Promise<void>[] = [];
  private readonly now: () => Date;
  private readonly recordEvent: ReturnType<typeof eventRecorder>;

  constructor(private readonly o: ControllerOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(o.kubeConfig);
    this.custom = o.kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = o.kubeConfig.makeApiClient(AppsV1Api);
    this.now = o.now ?? (() => new Date());
    this.recordEvent = eventRecorder({ core: this.core, log: o.log, metrics: o.metrics, now: this.now });
    o.metrics.setHeldObjects(() => this.held());
  }

  /** Sizes of every cache and per-model table, for spillway_operator_held_objects. */
  private held(): Record<string, number> {
    const sizes: Record<string, number> = {};
    for (const informer of this.informers) {
      const path = this.informerPaths.get(informer) ?? "?";
      sizes[`cache ${path}`] = (sizes[`cache ${path}`] ?? 0) + informer.list().length;
    }
    const tables = {
      load: this.load,
      podDigests: this.podDigests,
      digestTries: this.digestTries,
      digests: this.digests,
      history: this.history,
      settling: this.settling,
      unplacedPods: this.unplacedPods,
      failingPods: this.failingPods,
      poolGenerations: this.poolGenerations,
      namedPools: this.namedPools,
    };
    for (const [name, t] of Object.entries(tables)) sizes[name] = t.size;
    // Node's own count of what keeps the loop alive: timers, sockets, pending requests.
    for (const kind of process.getActiveResourcesInfo())
      sizes[`active ${kind}`] = (sizes[`active ${kind}`] ?? 0) + 1;
    return sizes;
  }

  private watch<T extends KubernetesObject>(
    path: string,
    list: () => Promise<{ items: T[] }>,
    onEvent: (obj: T, verb: "add" | "update" | "delete") => void,
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
    for (const verb of ["add", "update", "delete"] as const)
      informer.on(verb, (obj: T) => {
        onEvent(obj, verb);
      });
    informer.on("error", (err: unknown) => {
      if (!this.running) return;
      this.o.log.warn({ path, err: String(err) }, "watch broke; restarting");
      setTimeout(() => {
        if (this.running) void informer.start().catch(() => undefined);
      }, 2000);
    });
    this.informers.push(informer);
    this.informerPaths.set(informer, path);
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
    // Pods: which base replicas do not fit, which burst replicas wait for nodes, which are ready to scrape.
    this.pods = this.watch<V1Pod>(
      "/api/v1/pods",
      () => this.core.listPodForAllNamespaces({ labelSelector: MANAGED }),
      this.onPod,
      MANAGED,
    );
    this.nodes = this.watch<V1Node>(
      "/api/v1/nodes",
      () => this.core.listNode({ labelSelector: `${TIER_LABEL}=burst` }),
      () => this.poolController?.nudge(),
      `${TIER_LABEL}=burst`,
    );
    this.burstPools = this.watch<BurstPool>(
      `/apis/${GROUP}/${VERSION}/burstpools`,
      () =>
        this.custom.listClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: "burstpools",
        }) as Promise<{
          items: BurstPool[];
        }>,
      this.onPool,
    );
    await Promise.all(this.informers.map((i) => i.start()));
    this.poolController = new PoolController({
      ...this.o.pools,
      writer: kubePoolWriter({ core: this.core, custom: this.custom, event: this.recordEvent }),
      log: this.o.log,
      metrics: this.o.metrics,
      view: {
        pools: () => this.poolsInScope(),
        nodes: () => this.nodes.list(),
        pods: () => this.pods.list(),
        modelOf: (pod) => this.modelOfPod(pod),
      },
    });
    this.poolController.start();
    this.loadTimer = setInterval(() => void this.sampleLoad(), this.o.loadIntervalSeconds * 1000);
    this.workers = Array.from({ length: this.o.workers }, () => this.work());
    if (this.o.resyncSeconds > 0)
      this.resync = setInterval(() => {
        this.enqueueAll();
      }, this.o.resyncSeconds * 1000);
    this.o.log.info(
      { namespaces: this.o.namespaces.length ? this.o.namespaces : "all" },
      "controller started",
    );
  }

  private enqueueAll() {
    for (const cache of this.models)
      for (const m of cache.list()) this.queue.add(`${m.metadata.namespace}/${m.metadata.name}`);
  }

  /**
   * A pod's change matters to its model only when the scheduler starts or stops failing to place it, or
   * its server starts or stops reporting a model failure (readiness comes from the Deployments): every
   * other pod event would be a reconcile that finds nothing to do. Burst pods matter to the pools.
   */
  private onPod = (pod: V1Pod, verb: "add" | "update" | "delete") => {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const live = verb !== "delete" && !pod.metadata?.deletionTimestamp;
    const stuck = live && unplaced([pod], "base") !== undefined;
    const failing = live && modelFailure([pod]) !== undefined;
    if (stuck !== this.unplacedPods.has(key) || failing !== this.failingPods.has(key)) {
      for (const [set, on] of [
        [this.unplacedPods, stuck],
        [this.failingPods, failing],
      ] as const) {
        if (on) set.add(key);
        else set.delete(key);
      }
      this.enqueueOwned(pod);
    }
    if (pod.metadata?.labels?.[TIER_LABEL] === "burst") this.poolController?.nudge();
  };

  /**
   * A pool's spec (price, node size) and existence bound the burst of the models that name it; its status,
   * which the pool controller writes every few seconds, does not. Only a new generation, an added or a
   * deleted pool reconciles those models.
   */
  private onPool = (pool: BurstPool, verb: "add" | "update" | "delete") => {
    this.poolController?.nudge();
    const name = pool.metadata.name;
    const generation = pool.metadata.generation ?? 0;
    if (verb === "update" && this.poolGenerations.get(name) === generation) return;
    if (verb === "delete") this.poolGenerations.delete(name);
    else this.poolGenerations.set(name, generation);
    for (const cache of this.models)
      for (const m of cache.list())
        if (m.spec.replicas.burst.pools.includes(name))
          this.queue.add(`${m.metadata.namespace}/${m.metadata.name}`);
  };

  private modelOfPod(pod: V1Pod): InferenceModel | undefined {
    const name = pod.metadata?.labels?.[MODEL_LABEL];
    return name && pod.metadata?.namespace ? this.findModel(pod.metadata.namespace, name) : undefined;
  }

  /**
   * The pools this operator sizes: those its pool selector matches; without one, all of them when it
   * watches every namespace, else only those its models name, since it cannot see the demand elsewhere.
   * A pool its models stop naming (the last one deleted) stays in scope while it has nodes, so that they
   * are drained and removed rather than left running; an operator restarted meanwhile forgets it.
   */
  private poolsInScope(): readonly BurstPool[] {
    const all = this.burstPools.list();
    const selector = this.o.poolSelector;
    if (selector) {
      const want = selector.split(",").map((kv) => kv.split("=") as [string, string]);
      return all.filter((p) => want.every(([k, v]) => p.metadata.labels?.[k] === v));
    }
    if (!this.o.namespaces.length) return all;
    const named = new Set(this.models.flatMap((c) => c.list().flatMap((m) => m.spec.replicas.burst.pools)));
    const withNodes = new Set(this.nodes.list().map((n) => n.metadata?.labels?.[POOL_LABEL]));
    for (const pool of named) this.namedPools.add(pool);
    for (const pool of this.namedPools)
      if (!named.has(pool) && !withNodes.has(pool)) this.namedPools.delete(pool);
    return all.filter((p) => this.namedPools.has(p.metadata.name));
  }

  private podsOf(namespace: string, model: string): V1Pod[] {
    return this.pods
      .list(namespace)
      .filter((p) => p.metadata?.labels?.[MODEL_LABEL] === model && !p.metadata.deletionTimestamp);
  }

  /**
   * Reads the load of every model that autoscales from its ready pods (and, once per pod, which model file
   * each server loaded: status.modelDigest), and reconciles the models whose load or digest changed. One
   * round at a time: a slow round delays the next rather than piling up.
   */
  private async sampleLoad(): Promise<void> {
    if (this.sampling || !this.running) return;
    this.sampling = true;
    try {
      // One pass over the pods: each model's ready pods with an address.
      const ready = new Map<string, { namespace: string; name: string; ip: string }[]>();
      for (const p of this.pods.list()) {
        const model = p.metadata?.labels?.[MODEL_LABEL];
        const { namespace, name, deletionTimestamp } = p.metadata ?? {};
        if (!model || !namespace || !name || deletionTimestamp || !p.status?.podIP || !isReady(p)) continue;
        const key = `${namespace}/${model}`;
        const list = ready.get(key) ?? [];
        list.push({ namespace, name, ip: p.status.podIP });
        ready.set(key, list);
      }
      type Target = {
        key: string;
        autoscales: boolean;
        pods: { namespace: string; name: string; ip: string }[];
      };
      const targets: Target[] = [];
      const podKey = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;
      for (const cache of this.models)
        for (const m of cache.list()) {
          if (m.metadata.deletionTimestamp) continue;
          const key = `${m.metadata.namespace}/${m.metadata.name}`;
          const all = ready.get(key) ?? [];
          if (m.spec.autoscaling) targets.push({ key, autoscales: true, pods: all });
          else {
            // Without autoscaling a pod is read only until it has said which model file it loaded.
            const unknown = all.filter(
              (p) => !this.podDigests.has(podKey(p)) && (this.digestTries.get(podKey(p)) ?? 0) < DIGEST_TRIES,
            );
            if (unknown.length) targets.push({ key, autoscales: false, pods: unknown });
          }
        }
      const pods = targets.flatMap((t) => t.pods);
      const all = await this.o.scraper.scrapeAll(pods);
      const live = new Set([...ready.values()].flat().map(podKey));
      this.o.scraper.forget(live);
      let i = 0;
      for (const t of targets) {
        const sample = all.slice(i, i + t.pods.length);
        t.pods.forEach((p, j) => {
          const digest = sample[j]?.digest;
          if (digest) this.podDigests.set(podKey(p), digest);
          else this.digestTries.set(podKey(p), (this.digestTries.get(podKey(p)) ?? 0) + 1);
        });
        i += t.pods.length;
        if (!t.autoscales) continue;
        const before = this.load.get(t.key);
        this.load.set(t.key, sample);
        if (!sameLoad(before, sample) || this.settling.has(t.key)) this.queue.add(t.key);
      }
      const sampled = new Set(targets.filter((t) => t.autoscales).map((t) => t.key));
      for (const key of this.load.keys()) if (!sampled.has(key)) this.load.delete(key);
      for (const map of [this.podDigests, this.digestTries])
        for (const key of map.keys()) if (!live.has(key)) map.delete(key);
      // A model's digest is the one its ready pods agree on; mid-rollout, old and new disagree: keep it.
      for (const [key, list] of ready) {
        const seen = new Set(list.flatMap((p) => this.podDigests.get(podKey(p)) ?? []));
        const [digest] = seen;
        if (seen.size === 1 && digest && this.digests.get(key) !== digest) {
          this.digests.set(key, digest);
          this.queue.add(key);
        }
      }
    } finally {
      this.sampling = false;
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.resync);
    clearInterval(this.loadTimer);
    await this.poolController?.stop();
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
        const code = statusOf(err);
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
    if (!model || model.metadata.deletionTimestamp) {
      this.load.delete(key);
      this.digests.delete(key);
      this.history.delete(key);
      this.settling.delete(key);
      return;
    }
    const base = this.deployments.get(names.deployment(name, "base"), namespace);
    const burst = this.deployments.get(names.deployment(name, "burst"), namespace);
    const pools = new Map(this.burstPools.list().map((p) => [p.metadata.name, p.spec]));
    const decision = decideModel(
      {
        model,
        observed: {
          base: observeDeployment(base),
          burst: observeDeployment(burst),
          unplacedBase: unplaced(this.podsOf(namespace, name), "base"),
          modelFailure: modelFailure(this.podsOf(namespace, name)),
          modelDigest: this.digests.get(key),
        },
        current: { base: base?.spec?.replicas, burst: burst?.spec?.replicas },
        cached: (obj) => this.cached(obj),
        load: this.load.get(key),
        history: this.history.get(key) ?? [],
        pools,
        now: this.now().getTime(),
      },
      this.o.plan,
    );
    this.history.set(key, decision.history);
    const latest = decision.history.at(-1);
    if (latest && latest.replicas !== decision.replicas) this.settling.add(key);
    else this.settling.delete(key);
    this.o.metrics.desiredReplicas.set({ namespace, model: name, tier: "base" }, decision.scale.base);
    this.o.metrics.desiredReplicas.set({ namespace, model: name, tier: "burst" }, decision.scale.burst);

    // The objects are independent: apply the ones that differ concurrently.
    await Promise.all(
      decision.applies.map(async (obj) => {
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
    for (const gone of decision.deletes) {
      await this.apps.deleteNamespacedDeployment({
        name: gone.name,
        namespace,
        propagationPolicy: "Background",
      });
      this.o.metrics.writes.inc({ kind: "Deployment/delete" });
      this.o.log.info({ model: key, kind: gone.kind, name: gone.name }, "deleted");
    }

    const status = decision.status;
    if (!status) return;
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
    for (const e of decision.events)
      await this.recordEvent(
        {
          apiVersion: model.apiVersion,
          kind: model.kind,
          name: model.metadata.name,
          namespace: model.metadata.namespace,
          uid: model.metadata.uid,
        },
        e,
      );
  }
}

/** Reads of a pod that does not report a model digest before it is left alone (simulated pods never do). */
const DIGEST_TRIES = 3;

function isReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/**
 * Why the model's server could not load it, from the termination message a server container left
 * (src/api/server.ts): the newest failure among pods that are not ready.
 */
export function modelFailure(pods: V1Pod[]): { reason: string; message: string } | undefined {
  for (const p of pods) {
    if (isReady(p) || p.metadata?.deletionTimestamp) continue;
    for (const c of p.status?.containerStatuses ?? []) {
      const t = c.state?.terminated ?? c.lastState?.terminated;
      const failure = parseTerminationMessage(t?.message);
      if (failure)
        return { reason: failure.reason, message: `pod ${p.metadata?.name ?? ""}: ${failure.message}` };
    }
  }
  return undefined;
}

/** Pods of a tier the scheduler could not place, with its message (e.g. "Insufficient cpu"). */
export function unplaced(
  pods: V1Pod[],
  tier: "base" | "burst",
): { count: number; message: string } | undefined {
  const stuck = pods.flatMap((p) => {
    if (p.metadata?.labels?.[TIER_LABEL] !== tier || p.spec?.nodeName) return [];
    const c = p.status?.conditions?.find((x) => x.type === "PodScheduled" && x.status === "False");
    return c?.reason === "Unschedulable" ? [c.message ?? "unschedulable"] : [];
  });
  const [first] = stuck;
  return first === undefined ? undefined : { count: stuck.length, message: first };
}

function sameLoad(a: PodLoad[] | undefined, b: PodLoad[]): boolean {
  return (
    a !== undefined &&
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i];
      return (
        q !== undefined &&
        p.pod === q.pod &&
        p.readable === q.readable &&
        p.busySlots === q.busySlots &&
        p.queueDepth === q.queueDepth &&
        Math.round(p.tokensPerSecond) === Math.round(q.tokensPerSecond)
      );
    })
  );
}
