/**
 * The simulated fleet of the local control plane: kwok nodes shaped like Spillway's real tiers. Pure data
 * and a pure function from it to Node manifests, so the shape is table-tested without a cluster.
 */

import { POOL_LABEL, PROVIDER_LABEL, SPOT_TAINT_KEY, TIER_LABEL } from "../../src/api/labels.js";

export { POOL_LABEL, PROVIDER_LABEL, SPOT_TAINT_KEY, TIER_LABEL };
/** kwok manages only nodes carrying this annotation. */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";
/**
 * Every kwok node carries this taint (kwok's own convention), so pods run on the real node unless their
 * namespace opts into simulation (simulatedNamespace below).
 */
export const KWOK_TAINT = { key: KWOK_NODE_ANNOTATION, value: "fake", effect: "NoSchedule" } as const;

/**
 * A namespace whose pods run on kwok's simulated nodes only: the API server's PodNodeSelector and
 * PodTolerationRestriction admission plugins add the node selector and the toleration to each of its
 * pods. The scale and spill-over tests use these; everything else lands on the real node.
 */
export function simulatedNamespace(name: string) {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      annotations: {
        "scheduler.alpha.kubernetes.io/node-selector": "type=kwok",
        "scheduler.alpha.kubernetes.io/defaultTolerations": JSON.stringify([
          { key: KWOK_TAINT.key, operator: "Exists", effect: KWOK_TAINT.effect },
        ]),
      },
    },
  };
}

export type Tier = "base" | "burst";

export interface NodePool {
  name: string;
  tier: Tier;
  provider: "hetzner" | "aws" | "gcp";
  region: string;
  instanceType: string;
  count: number;
  cpu: string;
  memory: string;
  /** Pod capacity per node; 110 (the kubelet default) unless set. */
  pods?: string;
  /** Spot pools carry `spillway.dev/spot=true:NoSchedule`, so only pods that tolerate it land there. */
  spot: boolean;
}

export interface Topology {
  pools: NodePool[];
}

export const DEFAULT_TOPOLOGY: Topology = {
  pools: [
    {
      name: "base-hetzner",
      tier: "base",
      provider: "hetzner",
      region: "fsn1",
      instanceType: "ccx33",
      count: 3,
      cpu: "8",
      memory: "32Gi",
      spot: false,
    },
    {
      name: "spot-aws",
      tier: "burst",
      provider: "aws",
      region: "eu-central-1",
      instanceType: "m7i.2xlarge",
      count: 2,
      cpu: "8",
      memory: "32Gi",
      spot: true,
    },
    {
      name: "spot-gcp",
      tier: "burst",
      provider: "gcp",
      region: "europe-west3",
      instanceType: "n2-standard-8",
      count: 2,
      cpu: "8",
      memory: "32Gi",
      spot: true,
    },
  ],
};

interface NodeManifest {
  apiVersion: "v1";
  kind: "Node";
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { taints: { key: string; value: string; effect: string }[] };
  status: {
    allocatable: Record<string, string>;
    capacity: Record<string, string>;
    nodeInfo: Record<string, string>;
  };
}

export function nodeName(pool: NodePool, index: number): string {
  return `${pool.name}-${index}`;
}

export function nodeManifest(pool: NodePool, index: number, kubeletVersion: string): NodeManifest {
  const name = nodeName(pool, index);
  const resources = { cpu: pool.cpu, memory: pool.memory, pods: pool.pods ?? "110" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": pool.instanceType,
        "topology.kubernetes.io/region": pool.region,
        type: "kwok",
        [TIER_LABEL]: pool.tier,
        [PROVIDER_LABEL]: pool.provider,
        [POOL_LABEL]: pool.name,
        ...(pool.spot ? { "spillway.dev/capacity-type": "spot" } : {}),
      },
      annotations: { [KWOK_NODE_ANNOTATION]: "fake", "node.alpha.kubernetes.io/ttl": "0" },
    },
    spec: {
      taints: [
        { ...KWOK_TAINT },
        ...(pool.spot ? [{ key: SPOT_TAINT_KEY, value: "true", effect: "NoSchedule" }] : []),
      ],
    },
    status: {
      allocatable: resources,
      capacity: resources,
      nodeInfo: {
        architecture: "amd64",
        operatingSystem: "linux",
        kubeletVersion,
        kubeProxyVersion: kubeletVersion,
        containerRuntimeVersion: "kwok",
        kernelVersion: "kwok",
        osImage: "kwok",
        bootID: "",
        machineID: "",
        systemUUID: "",
      },
    },
  };
}

export function nodeManifests(topology: Topology, kubeletVersion: string): NodeManifest[] {
  return topology.pools.flatMap((pool) =>
    Array.from({ length: pool.count }, (_, i) => nodeManifest(pool, i, kubeletVersion)),
  );
}
