import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { applyCrds, kubectlFor, uniqueName, type PodList, simulatedNamespace } from "../helpers/kube.js";
import { startOperator, totalWrites, type OperatorProcess } from "../helpers/operator.js";
import { waitFor } from "../helpers/wait.js";

// A platform engineer installs the CRDs, runs the operator and declares models with kubectl.
const kubeconfig = inject("kubeconfig");
const kubectl = kubectlFor(kubeconfig);
const ns = uniqueName("models");
const operators: OperatorProcess[] = [];

const model = (name: string, spec: Record<string, unknown> = {}) =>
  stringify({
    apiVersion: "spillway.dev/v1alpha1",
    kind: "InferenceModel",
    metadata: { name, namespace: ns },
    spec: { model: { uri: "https://models.example/tiny.gguf" }, ...spec },
  });

interface Im {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    endpoint?: string;
    conditions?: { type: string; status: string; reason: string }[];
    replicas?: { base: { desired: number; ready: number } };
  };
}
const getModel = (name: string) => kubectl.json<Im>(["get", "im", name, "-n", ns]);
const ready = (m: Im) => m.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
const deployments = async (name: string) =>
  (
    await kubectl.json<{ items: { metadata: { name: string }; spec: { replicas: number } }[] }>([
      "get",
      "deploy",
      "-n",
      ns,
      "-l",
      `spillway.dev/model=${name}`,
    ])
  ).items;

async function operator(identity: string) {
  // Its own namespace only: the cluster may hold other operators' models (the demo's, in `default`), and
  // two operators reconciling one model never settle.
  const op = await startOperator({ kubeconfig, identity, leaseNamespace: ns, config: { namespaces: [ns] } });
  operators.push(op);
  return op;
}

beforeAll(async () => {
  await applyCrds(kubectl);
  await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace(ns)));
});
afterAll(async () => {
  for (const op of operators) await op.kill();
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
});

describe("InferenceModel validation at kubectl apply", () => {
  it.each([
    [
      "min above max",
      { replicas: { base: { min: 3, max: 1 } } },
      /spec\.replicas\.base: Invalid value: min must not exceed max/,
    ],
    [
      "unknown URI scheme",
      { model: { uri: "ftp://host/m.gguf" } },
      /spec\.model\.uri: .*must start with one of/,
    ],
    [
      "negative replicas",
      { replicas: { base: { min: -1 } } },
      /spec\.replicas\.base\.min: .*greater than or equal to 0/,
    ],
    ["parallel below 1", { server: { parallel: 0 } }, /spec\.server\.parallel: .*greater than or equal to 1/],
    ["missing model uri", { model: {} }, /spec\.model\.uri: Required value/],
    [
      "malformed sha256",
      { model: { uri: "s3://b/m.gguf", sha256: "abc" } },
      /spec\.model\.sha256: .*should match/,
    ],
    [
      "burst without pools",
      { replicas: { burst: { max: 2 } } },
      /spec\.replicas\.burst: .*burst\.pools must name a BurstPool/,
    ],
    [
      "burst.min above burst.max",
      { replicas: { burst: { min: 2, max: 1, pools: ["spot-aws"] } } },
      /spec\.replicas\.burst: Invalid value: burst\.min must not exceed burst\.max/,
    ],
    [
      "API key in env",
      { server: { env: [{ name: "SPILLWAY_API_KEY", value: "x" }] } },
      /spec\.server\.env: .*apiKeySecretRef/,
    ],
    [
      "format other than gguf",
      { model: { uri: "s3://b/m", format: "onnx" } },
      /spec\.model\.format: Unsupported value: "onnx"/,
    ],
  ])("refuses %s, naming the field", async (_name, spec, message) => {
    await expect(kubectl(["apply", "-f", "-"], model("bad", spec))).rejects.toThrow(message);
  });

  it("refuses a BurstPool with an unknown provider", async () => {
    const pool = stringify({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "BurstPool",
      metadata: { name: uniqueName("pool") },
      spec: {
        provider: "azure",
        region: "x",
        group: "g",
        nodeCapacity: { cpu: 8, memory: "32Gi" },
        maxNodes: 2,
        hourlyPriceUsd: 0.1,
      },
    });
    await expect(kubectl(["apply", "-f", "-"], pool)).rejects.toThrow(
      /spec\.provider: Unsupported value: "azure"/,
    );
  });
});

describe("the operator", () => {
  let leader: OperatorProcess;
  beforeAll(async () => {
    leader = await operator("op-a");
    await waitFor("op-a leads", async () => (await leader.metric("spillway_operator_leader")) === 1, {
      timeoutMs: 15_000,
    });
  });

  it("serves an applied model: workloads exist, pods run on base nodes, status turns Ready", async () => {
    await kubectl(["apply", "-f", "-"], model("chat", { replicas: { base: { min: 2, max: 4 } } }));
    const m = await waitFor("chat Ready", async () => {
      const got = await getModel("chat");
      return ready(got) ? got : undefined;
    });
    expect(m.status?.endpoint).toBe(`http://chat.${ns}.svc:8080/v1`);
    expect(m.status?.replicas?.base).toMatchObject({ desired: 2, ready: 2 });
    // No burst Deployment: this model may not burst.
    expect((await deployments("chat")).map((d) => [d.metadata.name, d.spec.replicas])).toEqual([
      ["chat-base", 2],
    ]);
    await kubectl(["get", "service/chat", "pdb/chat", "-n", ns]);
    const pods = await kubectl.json<PodList>(["get", "pods", "-n", ns, "-l", "spillway.dev/model=chat"]);
    expect(pods.items).toHaveLength(2);
    for (const p of pods.items) expect(p.spec.nodeName).toMatch(/^base-/);
    const table = await kubectl(["get", "im", "chat", "-n", ns]);
    expect(table).toMatch(
      /chat\s+https:\/\/models\.example\/tiny\.gguf\s+2\/2\s+0\/0\s+http:\/\/chat\..*\s+True/,
    );
    const events = await kubectl([
      "get",
      "events",
      "-n",
      ns,
      "--field-selector",
      "involvedObject.kind=InferenceModel,involvedObject.name=chat",
      "-o",
      "jsonpath={range .items[*]}{.type} {.reason} {.message}{'\\n'}{end}",
    ]);
    // Ready turning True is news; the first values of the other conditions and a finished rollout are not.
    expect(events.trim().split("\n")).toEqual([
      expect.stringMatching(/^Normal Serving Ready is True: 2\/2 /),
    ]);
  });

  it("rolls out a spec change and advances observedGeneration", async () => {
    await kubectl([
      "patch",
      "im",
      "chat",
      "-n",
      ns,
      "--type",
      "merge",
      "-p",
      '{"spec":{"server":{"parallel":8},"replicas":{"base":{"min":3}}}}',
    ]);
    const m = await waitFor("generation 2 observed and Ready", async () => {
      const got = await getModel("chat");
      return got.metadata.generation === 2 &&
        got.status?.observedGeneration === 2 &&
        ready(got) &&
        got.status.replicas?.base.ready === 3
        ? got
        : undefined;
    });
    expect(m.status?.replicas?.base.desired).toBe(3);
    const env = await kubectl([
      "get",
      "deploy",
      "chat-base",
      "-n",
      ns,
      "-o",
      'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="SPILLWAY_PARALLEL")].value}',
    ]);
    expect(env).toBe("8");
  });

  it("gives a model that may burst an empty burst Deployment for spot nodes, and removes it when it may not", async () => {
    await kubectl(
      ["apply", "-f", "-"],
      model("bursty", { replicas: { burst: { max: 4, pools: ["spot-aws"] } } }),
    );
    const burst = await waitFor("bursty-burst", async () =>
      kubectl.json<{ spec: { replicas: number; template: { spec: { tolerations: { key: string }[] } } } }>([
        "get",
        "deploy",
        "bursty-burst",
        "-n",
        ns,
      ]),
    );
    expect(burst.spec.replicas).toBe(0);
    expect(burst.spec.template.spec.tolerations.map((t) => t.key)).toEqual(["spillway.dev/spot"]);
    await kubectl([
      "patch",
      "im",
      "bursty",
      "-n",
      ns,
      "--type",
      "merge",
      "-p",
      '{"spec":{"replicas":{"burst":{"max":0,"pools":[]}}}}',
    ]);
    await waitFor(
      "bursty-burst deleted",
      async () => (await deployments("bursty")).map((d) => d.metadata.name).join() === "bursty-base",
    );
  });

  it("puts back a hand-edited Deployment", async () => {
    await kubectl(["scale", "deploy", "chat-base", "-n", ns, "--replicas=7"]);
    await kubectl(["label", "deploy", "chat-base", "-n", ns, "spillway.dev/model-"]);
    await waitFor("replicas and label restored", async () => {
      const d = await kubectl.json<{
        spec: { replicas: number };
        metadata: { labels: Record<string, string> };
      }>(["get", "deploy", "chat-base", "-n", ns]);
      return d.spec.replicas === 3 && d.metadata.labels["spillway.dev/model"] === "chat";
    });
  });

  it("makes no writes in steady state", async () => {
    // Settled: every Deployment at its replicas, ready and updated, and no pod left over from the hand
    // edit above (its extra pods take a while to go on a busy machine, and each changes a status).
    await waitFor(
      "the namespace to settle",
      async () => {
        const ds = await kubectl.json<{
          items: {
            spec: { replicas: number };
            status: { replicas?: number; readyReplicas?: number; updatedReplicas?: number };
          }[];
        }>(["get", "deploy", "-n", ns]);
        const pods = await kubectl.json<{ items: unknown[] }>(["get", "pods", "-n", ns]);
        const want = ds.items.reduce((n, d) => n + d.spec.replicas, 0);
        return (
          pods.items.length === want &&
          ds.items.every(
            (d) =>
              d.status.replicas === d.spec.replicas &&
              (d.status.readyReplicas ?? 0) === d.spec.replicas &&
              (d.status.updatedReplicas ?? 0) === d.spec.replicas,
          )
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    let last = -1;
    await waitFor(
      "3 s without writes",
      async () => {
        const now = await totalWrites(leader);
        const quiet = now === last;
        last = now;
        return quiet;
      },
      { timeoutMs: 30_000, intervalMs: 3000 },
    );
    await new Promise((r) => setTimeout(r, 5000));
    expect(await totalWrites(leader)).toBe(last);
  });

  it("converges after being killed mid-reconcile, without duplicates", async () => {
    const names = ["m1", "m2", "m3", "m4", "m5"];
    await kubectl(["apply", "-f", "-"], names.map((n) => model(n)).join("---\n"));
    await leader.kill();
    leader = await operator("op-b");
    for (const n of names) {
      await waitFor(`${n} Ready`, async () => ready(await getModel(n)), { timeoutMs: 30_000 });
      expect((await deployments(n)).map((d) => d.metadata.name)).toEqual([`${n}-base`]);
    }
  });

  it("with two replicas only the leader writes; the standby takes over when the leader stops", async () => {
    await waitFor("op-b leads", async () => (await leader.metric("spillway_operator_leader")) === 1, {
      timeoutMs: 15_000,
    });
    const standby = await operator("op-c");
    await kubectl(["apply", "-f", "-"], model("while-standby"));
    await waitFor("while-standby Ready", async () => ready(await getModel("while-standby")));
    expect(await standby.metric("spillway_operator_leader")).toBe(0);
    expect(await totalWrites(standby)).toBe(0);
    expect(await totalWrites(leader)).toBeGreaterThan(0);

    await leader.stop(); // releases the lease
    await waitFor("op-c leads", async () => (await standby.metric("spillway_operator_leader")) === 1, {
      timeoutMs: 15_000,
    });
    await kubectl(["apply", "-f", "-"], model("after-failover"));
    await waitFor("after-failover Ready", async () => ready(await getModel("after-failover")));
    expect(await totalWrites(standby)).toBeGreaterThan(0);
    leader = standby;
  });

  it("garbage-collects everything when the model is deleted", async () => {
    await kubectl(["delete", "im", "chat", "-n", ns]);
    await waitFor("owned objects gone", async () => {
      const left = await kubectl([
        "get",
        "deploy,svc,pdb,pods",
        "-n",
        ns,
        "-l",
        "spillway.dev/model=chat",
        "-o",
        "name",
      ]);
      return left.trim() === "";
    });
  });
});
