import { ApiException, type V1Node, type V1Pod } from "@kubernetes/client-node";
import type { InferenceModel } from "../../src/api/inference-model.js";
import { MODEL_LABEL } from "../../src/api/labels.js";
import type { InvolvedObject, OperatorEvent } from "../../src/operator/events.js";
import type { BurstPool, PoolView } from "../../src/operator/pools/controller.js";
import type { PoolStatusPatch, PoolWriter } from "../../src/operator/pools/writer.js";
import { Calls, resetAll } from "./calls.js";

/**
 * The cluster as the BurstPool controller sees it (its informers' caches) and writes to it, in memory. The
 * writes that the next round reads back are applied, as the API server would: a pool's status (a merge
 * patch: null removes a field), a cordon, a deleted node (404 when there is none). Pods are left as they are, so a test moves them
 * on itself (an evicted pod's deletionTimestamp, a replacement's node).
 */
export class FakePoolKube implements PoolView, PoolWriter {
  burstPools: BurstPool[] = [];
  nodeList: V1Node[] = [];
  podList: V1Pod[] = [];
  /** InferenceModels by namespace/name. */
  readonly models = new Map<string, InferenceModel>();
  readonly calls = {
    cordonNode: new Calls<[string]>(),
    evictPod: new Calls<[string, string]>(),
    deletePod: new Calls<[string, string]>(),
    deleteNode: new Calls<[string]>(),
    patchPoolStatus: new Calls<[string, PoolStatusPatch]>(),
    event: new Calls<[InvolvedObject, OperatorEvent]>(),
  };

  // PoolView
  pools = (): readonly BurstPool[] => this.burstPools;
  nodes = (): readonly V1Node[] => this.nodeList;
  pods = (): readonly V1Pod[] => this.podList;
  modelOf = (pod: V1Pod): InferenceModel | undefined =>
    this.models.get(`${pod.metadata?.namespace}/${pod.metadata?.labels?.[MODEL_LABEL]}`);

  // PoolWriter
  async cordonNode(name: string): Promise<void> {
    await Promise.resolve();
    this.calls.cordonNode.record(name);
    const node = this.existing(name);
    this.nodeList = this.nodeList.map((n) =>
      n === node ? { ...n, spec: { ...n.spec, unschedulable: true } } : n,
    );
  }

  async evictPod(namespace: string, name: string): Promise<void> {
    await Promise.resolve();
    this.calls.evictPod.record(namespace, name);
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await Promise.resolve();
    this.calls.deletePod.record(namespace, name);
  }

  async deleteNode(name: string): Promise<void> {
    await Promise.resolve();
    this.calls.deleteNode.record(name);
    const node = this.existing(name);
    this.nodeList = this.nodeList.filter((n) => n !== node);
  }

  async patchPoolStatus(name: string, status: PoolStatusPatch): Promise<void> {
    await Promise.resolve();
    this.calls.patchPoolStatus.record(name, status);
    const pool = this.burstPools.find((p) => p.metadata.name === name);
    if (!pool) throw new Error(`no BurstPool ${name}`);
    const merged = Object.entries({ ...pool.status, ...structuredClone(status) }).filter(
      ([, v]) => v !== null,
    );
    // A new object, as an informer delivers one: what the controller held before is not changed under it.
    this.burstPools = this.burstPools.map((p) =>
      p === pool ? { ...p, status: Object.fromEntries(merged) } : p,
    );
  }

  async event(about: InvolvedObject, e: OperatorEvent): Promise<void> {
    await Promise.resolve();
    this.calls.event.record(about, e);
  }

  reset(): void {
    resetAll(this.calls);
    this.burstPools = [];
    this.nodeList = [];
    this.podList = [];
    this.models.clear();
  }

  /** The API server's answer to a write on a node that does not exist. */
  private existing(name: string): V1Node {
    const node = this.nodeList.find((n) => n.metadata?.name === name);
    if (!node) throw new ApiException(404, `nodes "${name}" not found`, {}, {});
    return node;
  }
}
