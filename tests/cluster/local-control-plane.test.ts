import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { kubectlFor, uniqueName, type PodList, simulatedNamespace } from "../helpers/kube.js";
import { waitFor } from "../helpers/wait.js";

// A platform engineer brings up the local control plane and checks that workloads land on the right tier.
const kubectl = kubectlFor(inject("kubeconfig"));
const ns = uniqueName("cp");

const pod = (name: string, spec: Record<string, unknown>) =>
  stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns },
    spec: { containers: [{ name: "main", image: "localhost/anything:1" }], ...spec },
  });

const burstAffinity = {
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [
        { matchExpressions: [{ key: "spillway.dev/tier", operator: "In", values: ["burst"] }] },
      ],
    },
  },
};
const spotToleration = [{ key: "spillway.dev/spot", operator: "Equal", value: "true", effect: "NoSchedule" }];

async function nodeOf(name: string): Promise<string | undefined> {
  const p = await kubectl.json<PodList["items"][number]>(["get", "pod", name, "-n", ns]);
  return p.status.phase === "Running" ? p.spec.nodeName : undefined;
}

describe("local control plane", () => {
  beforeAll(async () => {
    await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace(ns)));
    await waitFor("default service account", () => kubectl(["get", "sa", "default", "-n", ns]));
  });
  afterAll(async () => {
    await kubectl(["delete", "namespace", ns, "--wait=false"]);
  });

  it("serves the pinned Kubernetes version", async () => {
    const v = await kubectl.json<{ serverVersion: { gitVersion: string } }>(["version"]);
    expect(v.serverVersion.gitVersion).toMatch(/^v1\.36\.\d+$/);
  });

  it("has Ready base nodes and spot nodes from two providers; kwok's carry its taint, spot ones the spot taint", async () => {
    const nodes = await kubectl.json<{
      items: {
        metadata: { labels: Record<string, string> };
        spec: { taints?: { key: string; effect: string }[] };
        status: { conditions: { type: string; status: string }[] };
      }[];
    }>(["get", "nodes"]);
    const ready = nodes.items.filter((n) =>
      n.status.conditions.some((c) => c.type === "Ready" && c.status === "True"),
    );
    expect(ready).toHaveLength(nodes.items.length);
    const kwok = nodes.items.filter((n) => n.metadata.labels.type === "kwok");
    const base = kwok.filter((n) => n.metadata.labels["spillway.dev/tier"] === "base");
    const burst = kwok.filter((n) => n.metadata.labels["spillway.dev/tier"] === "burst");
    expect(base.length).toBeGreaterThanOrEqual(3);
    expect(base.every((n) => n.spec.taints?.map((t) => t.key).join() === "kwok.x-k8s.io/node")).toBe(true);
    expect(new Set(burst.map((n) => n.metadata.labels["spillway.dev/provider"]))).toEqual(
      new Set(["aws", "gcp"]),
    );
    expect(
      burst.every((n) =>
        n.spec.taints?.some((t) => t.key === "spillway.dev/spot" && t.effect === "NoSchedule"),
      ),
    ).toBe(true);
  });

  it("runs a 3-replica Deployment on base nodes", async () => {
    await kubectl(["create", "deployment", "web", "-n", ns, "--image=localhost/web:1", "--replicas=3"]);
    const pods = await waitFor(
      "3 Running pods",
      async () => {
        const list = await kubectl.json<PodList>(["get", "pods", "-n", ns, "-l", "app=web"]);
        const running = list.items.filter((p) => p.status.phase === "Running");
        return running.length === 3 ? running : undefined;
      },
      { timeoutMs: 30_000 },
    );
    for (const p of pods) expect(p.spec.nodeName).toMatch(/^base-/);
  });

  it("places a pod that tolerates spot and asks for the burst tier on a spot node", async () => {
    await kubectl(
      ["apply", "-f", "-"],
      pod("burst", { tolerations: spotToleration, affinity: burstAffinity }),
    );
    const node = await waitFor("burst pod running", () => nodeOf("burst"));
    expect(node).toMatch(/^spot-(aws|gcp)-/);
  });

  it("keeps pods without the spot toleration off spot nodes", async () => {
    await kubectl(["apply", "-f", "-"], pod("plain", {}));
    expect(await waitFor("plain pod running", () => nodeOf("plain"))).toMatch(/^base-/);

    // Asking for the burst tier without tolerating spot leaves the pod unschedulable.
    await kubectl(["apply", "-f", "-"], pod("untolerated", { affinity: burstAffinity }));
    const reason = await waitFor("untolerated pod marked unschedulable", async () => {
      const p = await kubectl.json<PodList["items"][number]>(["get", "pod", "untolerated", "-n", ns]);
      return p.status.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False")?.reason;
    });
    expect(reason).toBe("Unschedulable");
  });
});
