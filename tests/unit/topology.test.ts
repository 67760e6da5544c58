import { describe, expect, it } from "vitest";
import {
  DEFAULT_TOPOLOGY,
  nodeManifest,
  nodeManifests,
  simulatedNamespace,
  type NodePool,
} from "../../testbed/cluster/topology.js";

const pool = (over: Partial<NodePool>): NodePool => ({
  name: "p",
  tier: "base",
  provider: "hetzner",
  region: "fsn1",
  instanceType: "ccx33",
  count: 1,
  cpu: "8",
  memory: "32Gi",
  spot: false,
  ...over,
});

describe("local cluster topology", () => {
  it.each([
    {
      spot: false,
      tier: "base" as const,
      taints: [{ key: "kwok.x-k8s.io/node", value: "fake", effect: "NoSchedule" }],
    },
    {
      spot: true,
      tier: "burst" as const,
      taints: [
        { key: "kwok.x-k8s.io/node", value: "fake", effect: "NoSchedule" },
        { key: "spillway.dev/spot", value: "true", effect: "NoSchedule" },
      ],
    },
  ])("a $tier pool (spot=$spot) gets tier labels and taints $taints", ({ spot, tier, taints }) => {
    const node = nodeManifest(pool({ spot, tier, name: "x" }), 2, "v1.36.3");
    expect(node.metadata.name).toBe("x-2");
    expect(node.metadata.labels["spillway.dev/tier"]).toBe(tier);
    expect(node.metadata.annotations["kwok.x-k8s.io/node"]).toBe("fake");
    expect(node.spec.taints).toEqual(taints);
    expect(node.status.allocatable).toEqual({ cpu: "8", memory: "32Gi", pods: "110" });
  });

  it("the default fleet has a 3-node Hetzner base and spot pools on AWS and GCP", () => {
    const nodes = nodeManifests(DEFAULT_TOPOLOGY, "v1.36.3");
    const byTier = (t: string) => nodes.filter((n) => n.metadata.labels["spillway.dev/tier"] === t);
    expect(byTier("base").map((n) => n.metadata.labels["spillway.dev/provider"])).toEqual([
      "hetzner",
      "hetzner",
      "hetzner",
    ]);
    expect(new Set(byTier("burst").map((n) => n.metadata.labels["spillway.dev/provider"]))).toEqual(
      new Set(["aws", "gcp"]),
    );
    expect(new Set(nodes.map((n) => n.metadata.name)).size).toBe(nodes.length);
  });

  it("a simulated namespace's pods tolerate the kwok taint and select kwok nodes only", () => {
    const ns = simulatedNamespace("t");
    const nodes = nodeManifests(DEFAULT_TOPOLOGY, "v1.36.3");
    const [key, value] = ns.metadata.annotations["scheduler.alpha.kubernetes.io/node-selector"].split("=");
    expect(nodes.every((n) => key && n.metadata.labels[key] === value)).toBe(true);
    const tolerations = JSON.parse(
      ns.metadata.annotations["scheduler.alpha.kubernetes.io/defaultTolerations"],
    ) as {
      key: string;
    }[];
    for (const n of nodes) {
      for (const t of n.spec.taints.filter((t) => t.key !== "spillway.dev/spot")) {
        expect(tolerations.map((x) => x.key)).toContain(t.key);
      }
    }
  });
});
