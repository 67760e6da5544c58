import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import OpenAI from "openai";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { tool } from "../../src/lib/paths.js";
import { defaultStateDir } from "../../testbed/cluster/cluster.js";
import { NETWORK, POD_REACHABLE_PORTS } from "../../testbed/cluster/network.js";
import { NODE_NAME, nodePaths, unavailableReason } from "../../testbed/cluster/real-node.js";
import { POD_AWS_ENV, publishSampleModel, type SampleModel } from "../../testbed/cluster/sample-model.js";
import { writeModel, type ModelShape } from "../../src/lib/gguf-fixture.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { kubectlFor, uniqueName } from "../helpers/kube.js";
import { waitFor } from "../helpers/wait.js";

/**
 * The whole path on the local cluster's real node: the chart's operator in its own container, an
 * InferenceModel whose GGUF lives in the emulated S3 bucket, the server pods the operator writes, and
 * requests through the model's Service from the host, with the official OpenAI client.
 */

const kubeconfig = inject("kubeconfig");
const kubectl = kubectlFor(kubeconfig);
const ns = uniqueName("e2e");
const release = "spillway";
const apiKey = randomBytes(24).toString("hex");

// Big enough that a long completion outlasts the pod's preStop pause (5 s), so the drain is exercised;
// small enough to fetch and load in a second or two.
const SHAPE: ModelShape = {
  name: "spillway-e2e",
  contextLength: 2048,
  embedding: 512,
  layers: 4,
  heads: 8,
  headsKv: 4,
  feedForward: 1536,
  vocab: 512,
  weights: "F16",
  tiedEmbeddings: false,
};
function e2eModel(): Buffer {
  const dir = join(tmpdir(), "spillway-fixtures");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "e2e-7.gguf");
  if (!existsSync(path)) writeModel(path, SHAPE, 7);
  return readFileSync(path);
}

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string; serviceAccountName?: string };
  status: {
    podIP?: string;
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { ready: boolean; restartCount: number }[];
  };
}
const isReady = (p: Pod) =>
  p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
const pods = async (selector: string) =>
  (await kubectl.json<{ items: Pod[] }>(["get", "pods", "-n", ns, "-l", selector])).items;
const modelPods = (name: string) => pods(`spillway.dev/model=${name}`);

interface Im {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    modelDigest?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}
type ReadyCondition = NonNullable<NonNullable<Im["status"]>["conditions"]>[number];
const readyCondition = async (name: string) =>
  (await kubectl.json<Im>(["get", "im", name, "-n", ns])).status?.conditions?.find((c) => c.type === "Ready");
/** Polls a model's Ready condition until `want` holds for it; returns the condition. */
const waitForReady = (
  name: string,
  what: string,
  want: (c: ReadyCondition) => boolean,
  timeoutMs = 120_000,
) =>
  waitFor(
    what,
    async () => {
      const c = await readyCondition(name);
      return c && want(c) ? c : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );

function inferenceModel(
  name: string,
  model: SampleModel,
  opts: { sha256?: string; replicas?: number; env?: { name: string; value: string }[] } = {},
) {
  return {
    apiVersion: "spillway.dev/v1alpha1",
    kind: "InferenceModel",
    metadata: { name, namespace: ns },
    spec: {
      model: { uri: model.uri, sha256: opts.sha256 ?? model.sha256, contextSize: 4096 },
      server: {
        parallel: 2,
        threads: 1,
        apiKeySecretRef: { name: "chat-key", key: "key" },
        resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
        env: opts.env ?? POD_AWS_ENV,
      },
      replicas: { base: { min: opts.replicas ?? 1, max: opts.replicas ?? 1 } },
    },
  };
}

const helm = (args: string[]) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(tool("helm"), [...args, "--kubeconfig", kubeconfig], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const collect = (d: Buffer) => {
      out += d.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("exit", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`helm ${args[0] ?? ""}: ${out}`));
    });
  });

let model: SampleModel;
let serviceUrl: string;
const timings: Record<string, number> = {};
const timed = async <T>(step: string, f: () => Promise<T>): Promise<T> => {
  const t = Date.now();
  try {
    return await f();
  } finally {
    timings[step] = (Date.now() - t) / 1000;
  }
};

beforeAll(async () => {
  // The cluster may be up without its real node (it could not start, or SPILLWAY_REAL_NODE=0): say why
  // at once rather than after every test's timeout.
  const unavailable = unavailableReason(defaultStateDir());
  if (unavailable) throw new Error(`the local cluster's real node is not running: ${unavailable}`);
  await kubectl(["create", "namespace", ns]);
  model = await publishSampleModel({ bucket: "spillway-e2e", key: `${ns}/model.gguf`, body: e2eModel() });
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "chat-key", namespace: ns },
      stringData: { key: apiKey },
    }),
  );
  await timed("chart install (operator Ready on the real node)", () =>
    helm([
      "install",
      release,
      "charts/spillway",
      "-n",
      ns,
      "--set",
      `operator.namespaces={${ns}}`,
      "--set",
      "replicaCount=1",
      "--set",
      "cloud.aws.enabled=false",
      "--set",
      "cloud.gcp.enabled=false",
      "--wait",
      "--timeout",
      "120s",
    ]),
  );
  await kubectl(["apply", "-f", "-"], stringify(inferenceModel("chat", model, { replicas: 2 })));
}, 240_000);

afterAll(async () => {
  console.log(
    `[e2e] step timings (s): ${Object.entries(timings)
      .map(([k, v]) => `${k}: ${v.toFixed(1)}`)
      .join("; ")}`,
  );
  await helm(["uninstall", release, "-n", ns, "--wait", "--timeout", "60s"]).catch(() => undefined);
  await kubectl(["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
});

describe("an InferenceModel on the real node", () => {
  it("the chart's operator runs in its own container on the real node, with its ServiceAccount", async () => {
    const [op, ...more] = await pods("app.kubernetes.io/name=spillway-operator");
    expect(more).toHaveLength(0);
    expect(op?.spec.nodeName).toBe(NODE_NAME);
    expect(op?.spec.serviceAccountName).toBe("spillway-operator");
    expect(op && isReady(op)).toBe(true);
  });

  it("fetches the model from the emulated S3 bucket; pods turn Ready only once it is loaded; status Ready", async () => {
    const ready = await timed("model Ready (2 replicas: fetch, verify, load)", () =>
      waitForReady("chat", "chat Ready", (c) => c.status === "True", 180_000),
    );
    expect(ready.reason).toBe("Serving");
    const list = await modelPods("chat");
    expect(list).toHaveLength(2);
    for (const p of list) {
      expect(p.spec.nodeName).toBe(NODE_NAME);
      expect(isReady(p)).toBe(true);
      const log = await kubectl(["logs", p.metadata.name, "-n", ns]);
      // The readiness probe answered 200 only after these: the server says so in this order.
      const downloaded = log.indexOf("model downloaded");
      const loaded = log.indexOf("model ready");
      expect(downloaded).toBeGreaterThanOrEqual(0);
      expect(loaded).toBeGreaterThan(downloaded);
      expect(log).toContain(model.sha256);
    }
    const im = await kubectl.json<Im>(["get", "im", "chat", "-n", ns]);
    expect(im.status?.observedGeneration).toBe(im.metadata.generation);
    // The digest in status is what the servers report having loaded (their /metrics), not the spec's.
    const digest = await waitFor(
      "status.modelDigest",
      async () => (await kubectl.json<Im>(["get", "im", "chat", "-n", ns])).status?.modelDigest,
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(digest).toBe(`sha256:${model.sha256}`);
    const ip = await kubectl(["get", "svc", "chat", "-n", ns, "-o", "jsonpath={.spec.clusterIP}"]);
    expect(ip).toMatch(/^198\.19\./);
    serviceUrl = `http://${ip}:8080/v1`;
  });

  it("answers a chat completion through the Service with the key, and 401 without it", async () => {
    const client = new OpenAI({ baseURL: serviceUrl, apiKey, maxRetries: 0, timeout: 60_000 });
    const res = await timed("chat completion via ClusterIP", () =>
      client.chat.completions.create({
        model: "chat",
        messages: [{ role: "user", content: "Say hello." }],
        max_completion_tokens: 8,
      }),
    );
    expect(res.object).toBe("chat.completion");
    expect(res.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(res.usage?.completion_tokens).toBe(8);

    const anonymous = new OpenAI({ baseURL: serviceUrl, apiKey: "wrong", maxRetries: 0 });
    const err = await anonymous.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
    const bare = await fetch(`${serviceUrl}/models`);
    expect(bare.status).toBe(401);
    expect(((await bare.json()) as { error: { type: string } }).error.type).toBeTruthy();
  });

  it("keeps the API key out of every log, event and status", async () => {
    const texts = [
      await kubectl(["get", "im", "chat", "-n", ns, "-o", "json"]),
      await kubectl(["get", "events", "-n", ns, "-o", "json"]),
      await kubectl(["get", "deploy", "-n", ns, "-o", "json"]),
      await kubectl(["get", "pods", "-n", ns, "-o", "json"]),
      await kubectl(["logs", "-n", ns, "deploy/spillway-operator"]),
      ...(await Promise.all(
        (await modelPods("chat")).map((p) => kubectl(["logs", p.metadata.name, "-n", ns])),
      )),
    ];
    for (const t of texts) expect(t).not.toContain(apiKey);
  });

  it("a restarted server container finds the model in its cache volume and does not download it again", async () => {
    const [p] = await modelPods("chat");
    if (!p) throw new Error("no pod");
    // The server is PID 1: SIGTERM makes it drain and exit 0; the kubelet starts the container again.
    await kubectl(["exec", p.metadata.name, "-n", ns, "--", "/bin/bash", "-c", "kill -TERM 1"]);
    await timed("container restart to Ready", () =>
      waitFor(
        "the restarted container Ready",
        async () => {
          const q = (await modelPods("chat")).find((x) => x.metadata.name === p.metadata.name);
          return q && (q.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && isReady(q);
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      ),
    );
    const current = await kubectl(["logs", p.metadata.name, "-n", ns]);
    expect(current).toContain("model found in cache");
    expect(current).not.toContain("model downloaded");
    expect(await kubectl(["logs", p.metadata.name, "-n", ns, "--previous"])).toContain("model downloaded");
  });

  it("`kubectl delete pod` during a streamed completion: the stream finishes, new requests go to the other pod, a replacement comes up", async () => {
    const [victim, other] = await modelPods("chat");
    if (!victim?.status.podIP || !other) throw new Error("want two pods");
    // Follow the victim's log from before the deletion: its drain lines are the proof.
    const follow = spawn(tool("kubectl"), [
      "--kubeconfig",
      kubeconfig,
      "logs",
      "-f",
      victim.metadata.name,
      "-n",
      ns,
    ]);
    let followed = "";
    let drainingAt = 0;
    follow.stdout.on("data", (d: Buffer) => {
      followed += d.toString();
      if (!drainingAt && followed.includes('"msg":"draining"')) drainingAt = Date.now();
    });

    const direct = new OpenAI({
      baseURL: `http://${victim.status.podIP}:8080/v1`,
      apiKey,
      maxRetries: 0,
      timeout: 120_000,
    });
    const stream = await direct.chat.completions.create({
      model: "chat",
      messages: [{ role: "user", content: "Tell a long story." }],
      // Long enough to outlast the 5 s preStop and reach the drain (about 10 s on 2 vCPUs).
      max_completion_tokens: 3800,
      stream: true,
    });
    let chunks = 0;
    let finish: string | null | undefined;
    let deleted: Promise<string> | undefined;
    const viaService = new OpenAI({ baseURL: serviceUrl, apiKey, maxRetries: 0, timeout: 60_000 });
    const during: Promise<number>[] = [];
    for await (const c of stream) {
      chunks++;
      if (chunks === 1) deleted = kubectl(["delete", "pod", victim.metadata.name, "-n", ns, "--wait=false"]);
      // While the victim terminates, requests through the Service land on the other pod.
      if (deleted && chunks % 200 === 0) {
        during.push(
          viaService.chat.completions
            .create({ model: "chat", messages: [{ role: "user", content: "hi" }], max_completion_tokens: 4 })
            .then(() => 200)
            .catch((e: unknown) => (e as { status?: number }).status ?? 0),
        );
      }
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    const streamEnded = Date.now();
    await deleted;
    expect(finish).toBe("length");
    expect(chunks).toBeGreaterThan(1000);
    expect(await Promise.all(during)).toEqual(during.map(() => 200));
    await waitFor("the victim's drain to finish", () => followed.includes('"msg":"drain finished"'), {
      timeoutMs: 60_000,
    });
    follow.kill();
    // SIGTERM reached the server while the stream was still running, and it finished it.
    expect(drainingAt).toBeGreaterThan(0);
    expect(drainingAt).toBeLessThan(streamEnded);
    expect(followed).toMatch(/"drained":true/);

    await timed("replacement pod Ready", () =>
      waitFor(
        "a replacement pod Ready",
        async () => {
          const list = await modelPods("chat");
          const fresh = list.filter(
            (p) => p.metadata.name !== victim.metadata.name && !p.metadata.deletionTimestamp,
          );
          return fresh.length === 2 && fresh.every(isReady);
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      ),
    );
  });

  it("fetches a model from the GCS emulator the same way", async () => {
    const bucket = uniqueName("models");
    const gcs = new Storage({ apiEndpoint: inject("gcsEndpoint"), projectId: "spillway" });
    await gcs.bucket(bucket).create();
    await gcs.bucket(bucket).file("model.gguf").save(e2eModel(), { resumable: false });
    const env = [
      {
        name: "STORAGE_EMULATOR_HOST",
        value: `http://${NETWORK.gateway}:${POD_REACHABLE_PORTS.gcsEmulator}`,
      },
    ];
    await kubectl(
      ["apply", "-f", "-"],
      stringify(inferenceModel("from-gcs", { ...model, uri: `gs://${bucket}/model.gguf` }, { env })),
    );
    await timed("model from GCS Ready", () =>
      waitForReady("from-gcs", "from-gcs Ready", (c) => c.status === "True"),
    );
    const [p] = await modelPods("from-gcs");
    expect(await kubectl(["logs", p?.metadata.name ?? "", "-n", ns])).toContain("model downloaded");
    await kubectl(["delete", "im", "from-gcs", "-n", ns]);
  });

  it("a wrong sha256: the pod never turns Ready, the status names the checksum, the cache keeps nothing", async () => {
    await kubectl(["apply", "-f", "-"], stringify(inferenceModel("bad", model, { sha256: "0".repeat(64) })));
    const cond = await timed("bad checksum reported in status", () =>
      waitForReady(
        "bad",
        "Ready=False with ModelChecksumMismatch",
        (c) => c.reason === "ModelChecksumMismatch",
      ),
    );
    expect(cond.status).toBe("False");
    expect((await kubectl.json<Im>(["get", "im", "bad", "-n", ns])).status?.modelDigest).toBeUndefined();
    expect(cond.message).toContain(`expected sha256 ${"0".repeat(64)}, got ${model.sha256}`);
    const [p] = await modelPods("bad");
    if (!p) throw new Error("no pod");
    expect(isReady(p)).toBe(false);
    expect(p.status.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1);
    // The pod's cache volume, seen from the node: no model and no partial download.
    const cache = join(
      nodePaths(defaultStateDir()).kubeletRoot,
      "pods",
      p.metadata.uid,
      "volumes",
      "kubernetes.io~empty-dir",
      "model-cache",
    );
    expect(existsSync(cache)).toBe(true);
    expect(readdirSync(cache)).toEqual([]);
    await kubectl(["delete", "im", "bad", "-n", ns]);
  });

  describe("model-download faults, seen from a pod", () => {
    // The pods' S3 endpoint is the fault proxy on the host (gateway:4599 → 127.0.0.1:4599), in front of
    // the AWS emulator.
    const proxy = new FaultProxy(inject("awsEndpoint"));
    const viaProxy = POD_AWS_ENV.map((e) =>
      e.name === "AWS_ENDPOINT_URL"
        ? { ...e, value: `http://${NETWORK.gateway}:${POD_REACHABLE_PORTS.faultProxy}` }
        : e,
    );
    beforeAll(async () => {
      await proxy.start(POD_REACHABLE_PORTS.faultProxy);
    });
    afterAll(async () => {
      await proxy.close();
    });

    it("a connection cut mid-download: the server resumes with a range and the pod turns Ready", async () => {
      proxy.reset();
      proxy.queue({ kind: "cut", afterBytes: 4_000_000 });
      await kubectl(["apply", "-f", "-"], stringify(inferenceModel("cut", model, { env: viaProxy })));
      await timed("cut download resumed, Ready", () =>
        waitForReady("cut", "cut Ready", (c) => c.status === "True"),
      );
      const [first, second] = proxy.downloads;
      expect(first).toMatchObject({ fault: "cut", bytes: 4_000_000 });
      const offset = Number(/^bytes=(\d+)-$/.exec(second?.range ?? "")?.[1]);
      expect(offset).toBeGreaterThan(0);
      expect(second?.bytes).toBe(e2eModel().length - offset);
      const [p] = await modelPods("cut");
      const logs = await kubectl(["logs", p?.metadata.name ?? "", "-n", ns]);
      expect(logs).toContain("model download failed; retrying");
      expect(p?.status.containerStatuses?.[0]?.restartCount).toBe(0);
      await kubectl(["delete", "im", "cut", "-n", ns]);
    });

    it("a source that answers 503: Ready=False with ModelDownloadFailed naming the status", async () => {
      proxy.reset();
      proxy.queue(...Array.from({ length: 50 }, () => ({ kind: "status" as const, status: 503 })));
      await kubectl(["apply", "-f", "-"], stringify(inferenceModel("unavailable", model, { env: viaProxy })));
      const cond = await timed("503s reported in status", () =>
        waitForReady(
          "unavailable",
          "Ready=False with ModelDownloadFailed",
          (c) => c.reason === "ModelDownloadFailed",
        ),
      );
      expect(cond.status).toBe("False");
      expect(cond.message).toMatch(/HTTP 503/);
      // Each start of the server tried five times before it gave up and exited.
      expect(proxy.downloads.length).toBeGreaterThanOrEqual(5);
      await kubectl(["delete", "im", "unavailable", "-n", ns]);
    });
  });
});
