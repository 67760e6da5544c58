import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type CustomObjectsApi,
} from "@kubernetes/client-node";
import type { Condition } from "../../api/common.js";
import { GROUP, VERSION } from "../../api/common.js";
import type { InvolvedObject, OperatorEvent } from "../events.js";

/** The status the pool controller writes, whole, as a merge patch. */
export interface PoolStatusPatch {
  observedGeneration: number | undefined;
  desiredNodes: number;
  currentNodes: number;
  readyNodes: number;
  hourlySpendUsd: number;
  /** null removes it: the pool is available again. */
  unavailableUntil: string | null;
  conditions: Condition[];
}

/**
 * The Kubernetes writes of the BurstPool controller, and nothing more: cordon and delete nodes, evict or
 * delete pods, write a pool's status, record an Event. Each one fails as the API call does (an
 * `ApiException`; see `statusOf`), and the controller decides what a failure means, except for Events,
 * which never fail: the status already says the same thing.
 */
export interface PoolWriter {
  cordonNode(name: string): Promise<void>;
  /** Through the Eviction API, which honours the pod's PodDisruptionBudget (429 when it does not allow it). */
  evictPod(namespace: string, name: string): Promise<void>;
  /** With the pod's grace period. */
  deletePod(namespace: string, name: string): Promise<void>;
  deleteNode(name: string): Promise<void>;
  patchPoolStatus(name: string, status: PoolStatusPatch): Promise<void>;
  event(about: InvolvedObject, e: OperatorEvent): Promise<void>;
}

/** The writer over the operator's API clients; `event` is the operator's event recorder. */
export function kubePoolWriter(o: {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  event: PoolWriter["event"];
}): PoolWriter {
  const mergePatch = () => setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  return {
    async cordonNode(name) {
      await o.core.patchNode({ name, body: { spec: { unschedulable: true } } }, mergePatch());
    },
    async evictPod(namespace, name) {
      await o.core.createNamespacedPodEviction({ name, namespace, body: { metadata: { name, namespace } } });
    },
    async deletePod(namespace, name) {
      await o.core.deleteNamespacedPod({ name, namespace });
    },
    async deleteNode(name) {
      await o.core.deleteNode({ name });
    },
    async patchPoolStatus(name, status) {
      await o.custom.patchClusterCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: "burstpools", name, body: { status } },
        mergePatch(),
      );
    },
    event: o.event,
  };
}
