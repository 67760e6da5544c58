import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AutoScalingClient,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from "@aws-sdk/client-auto-scaling";
import {
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { LoadReport } from "../../src/cli/load/report.js";
import { tool } from "../../src/lib/paths.js";
import { parsePrometheusText, sumOf } from "../../src/lib/prometheus-text.js";
import { CloudNodes, emulatedGroup } from "../../testbed/cluster/cloud-nodes.js";
import { PORTS, defaultStateDir } from "../../testbed/cluster/cluster.js";
import { PAUSE_IMAGE } from "../../testbed/cluster/node-config.js";
import { NODE_NAME, unavailableReason } from "../../testbed/cluster/real-node.js";
import { POD_AWS_ENV, publishSampleModel } from "../../testbed/cluster/sample-model.js";
import { spotNodes } from "../../testbed/cluster/spot-node.js";
import { completionsAnswered } from "../../testbed/lib/http.js";
import { currentInferenceImage } from "../../testbed/lib/podman.js";
import { applyCrds, kubectlFor, uniqueName } from "../helpers/kube.js";
import { startOperator, type OperatorProcess } from "../helpers/operator.js";
import { spawnTs, type Spawned } from "../helpers/process.js";
import { waitFor } from "../helpers/wait.js";

// The spill-over for real. A platform engineer's model has one base replica on the local cluster's real
// node; `spillway load` through its Service asks for more than that replica's one slot; the operator raises
// the emulated Auto Scaling group; each instance boots as a real spot node (its own kubelet, containerd and
// network namespace); the burst replicas there fetch the model from the emulated bucket, turn Ready and
// answer a share of the load, counted from each burst pod's own metrics. When the load stops, the burst
// drains after the stabilization window, the instances are terminated and the nodes are gone; the base
// replica is untouched. Then a spot interruption warning for the node the burst runs on, while streams
// run there: the node is cordoned, a replacement joins, the burst pods finish what they hold and go, and
// the load run counts 0 failed requests and 0 broken streams.
const kubeconfig = inject("kubeconfig");
const endpoint = inject("awsEndpoint");
const kubectl = kubectlFor(kubeconfig);
const region = "eu-central-1";
const aws = { endpoint, region, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
const autoscaling = new AutoScalingClient(aws);
const sqs = new SQSClient(aws);
const events = new EventBridgeClient(aws);
const ns = uniqueName("spill");
const run = ns.split("-")[1]!;
const pool = `spot-${run}`;
const group = `${pool}-asg`;
const dir = mkdtempSync(join(tmpdir(), "spillway-spill-"));

interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: { nodeName?: string };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}
const pods = async (tier: "base" | "burst") =>
  (
    await kubectl.json<{ items: Pod[] }>([
      "get",
      "pods",
      "-n",
      ns,
      "-l",
      `spillway.dev/model=chat,spillway.dev/tier=${tier}`,
    ])
  ).items;
const ready = (p: Pod) => p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
const desired = async () =>
  (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] })))
    .AutoScalingGroups?.[0]?.DesiredCapacity;

const served = (p: Pod) => completionsAnswered(`http://${p.status.podIP}:8080`);

let operator: OperatorProcess | undefined;
let nodes: CloudNodes | undefined;

beforeAll(async () => {
  const noNode = unavailableReason(defaultStateDir());
  if (noNode) throw new Error(`the real-node stories need the local cluster's real node: ${noNode}`);
  await applyCrds(kubectl);
  await kubectl(["create", "namespace", ns]);
  await emulatedGroup({ endpoint, region, name: group, maxSize: 2 });
  // The aws-spot stack's queue and rule, made here in the emulator: EC2's warning → EventBridge → SQS.
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${pool}-interruptions` }))).QueueUrl!;
  const queueArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes!.QueueArn!;
  await events.send(
    new PutRuleCommand({
      Name: `${pool}-interruption`,
      EventPattern: JSON.stringify({
        source: ["aws.ec2"],
        "detail-type": ["EC2 Spot Instance Interruption Warning"],
      }),
    }),
  );
  await events.send(
    new PutTargetsCommand({ Rule: `${pool}-interruption`, Targets: [{ Id: "queue", Arn: queueArn }] }),
  );
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "BurstPool",
      metadata: { name: pool, labels: { "spillway.dev/test-run": run } },
      spec: {
        provider: "aws",
        region,
        group,
        nodeCapacity: { cpu: 1, memory: "4Gi" },
        maxNodes: 2,
        hourlyPriceUsd: 0.1,
        interruptionQueue: queueUrl,
      },
    }),
  );
  const version = (await kubectl.json<{ serverVersion: { gitVersion: string } }>(["version"])).serverVersion
    .gitVersion;
  nodes = new CloudNodes({
    kubectl,
    autoscaling,
    pools: [{ name: pool, group, region, cpu: "1", memory: "4Gi" }],
    kubeletVersion: version,
    nodes: {
      kind: "real",
      clusterDir: defaultStateDir(),
      apiserverPort: PORTS.apiserver,
      images: [PAUSE_IMAGE, currentInferenceImage()],
      baked: true,
      maxNodes: 2,
    },
    log: (l) => {
      console.log(`[spot] ${l}`);
    },
  });
  nodes.start();
  operator = await startOperator({
    kubeconfig,
    identity: `spill-${run}`,
    leaseNamespace: ns,
    config: {
      namespaces: [ns],
      load: { intervalSeconds: 1 },
      pools: {
        selector: `spillway.dev/test-run=${run}`,
        intervalSeconds: 1,
        emptyNodeCooldownSeconds: 2,
        aws: { endpoint },
        gcp: { enabled: false },
      },
    },
    env: { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_REGION: region },
  });
}, 180_000);

afterAll(async () => {
  await kubectl(["delete", "im", "chat", "-n", ns, "--ignore-not-found", "--wait=false"]).catch(() => "");
  await operator?.stop();
  await nodes?.stop();
  await autoscaling
    .send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: group, ForceDelete: true }))
    .catch(() => undefined);
  await kubectl(["delete", "burstpool", pool, "--ignore-not-found"]).catch(() => "");
  await kubectl(["delete", "namespace", ns, "--wait=false"]).catch(() => "");
}, 120_000);

/** The platform engineer's model (idempotent): one base replica of one slot, two burst replicas at most. */
async function chatModel(): Promise<{ base: Pod; serviceIp: string }> {
  const model = await publishSampleModel({ bucket: "spillway-models", key: `${ns}.gguf` });
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "InferenceModel",
      metadata: { name: "chat", namespace: ns },
      spec: {
        model: { uri: model.uri, sha256: model.sha256, contextSize: 512 },
        server: {
          parallel: 1,
          threads: 1,
          resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
          env: POD_AWS_ENV,
        },
        replicas: { base: { min: 1, max: 1 }, burst: { max: 2, pools: [pool] } },
        autoscaling: { metric: "inFlight", target: 1, scaleDownStabilizationSeconds: 15 },
      },
    }),
  );
  await waitFor(
    "chat Ready on its base replica",
    async () => (await pods("base")).some((p) => ready(p) && p.spec.nodeName === NODE_NAME),
    { timeoutMs: 120_000 },
  );
  const [base] = await pods("base");
  const serviceIp = (
    await kubectl(["get", "svc", "chat", "-n", ns, "-o", "jsonpath={.spec.clusterIP}"])
  ).trim();
  return { base: base!, serviceIp };
}

/** `spillway load` through the model's Service: more users than the base's one slot. */
function load(serviceIp: string, o: { durationSeconds: number; maxTokens: number; report: string }): Spawned {
  return spawnTs(
    "testbed/main.ts",
    [
      "load",
      "--url",
      `http://${serviceIp}:8080`,
      "--model",
      "chat",
      "--users",
      "6",
      "--ramp",
      "2",
      "--duration",
      String(o.durationSeconds),
      "--think-ms",
      "50",
      "--max-tokens",
      String(o.maxTokens),
      "--json",
      o.report,
      // The Service's ClusterIP is the test bed's (198.19.0.0/16, routed only into its own namespaces).
      "--allow-remote",
    ],
    {},
  );
}

/** Two burst replicas Ready on real spot nodes of the pool, each having answered requests. */
async function burstServing(
  loadRun: Spawned,
  what: string,
  timeoutMs: number,
  exclude: (p: Pod) => boolean = () => false,
): Promise<{ pod: Pod; spot: string[]; runtime: string }[]> {
  return waitFor(
    what,
    async () => {
      const b = (await pods("burst")).filter((p) => ready(p) && !exclude(p));
      if (b.length < 2) return undefined;
      const counts = await Promise.all(b.map((p) => served(p).catch(() => 0)));
      if (!counts.every((c) => c > 0)) return undefined;
      const spot = spotNodes(defaultStateDir());
      return Promise.all(
        b.map(async (pod) => ({
          pod,
          spot,
          runtime: await kubectl([
            "get",
            "node",
            pod.spec.nodeName ?? "",
            "-o",
            "jsonpath={.status.nodeInfo.containerRuntimeVersion}",
          ]),
        })),
      );
    },
    { timeoutMs, intervalMs: 1000 },
  ).catch(async (err: unknown) => {
    const im = await kubectl(["get", "im", "chat", "-n", ns, "-o", "yaml"]).catch(String);
    throw new Error(
      `${String(err)}\n--- load ---\n${loadRun.output().slice(-2000)}\n--- operator ---\n${operator?.output().slice(-4000)}\n--- model ---\n${im}`,
    );
  });
}

const poolNodeNames = async () =>
  (await kubectl(["get", "nodes", "-l", `spillway.dev/pool=${pool}`, "-o", "name"]))
    .split("\n")
    .filter(Boolean)
    .map((n) => n.replace("node/", ""));

async function drainedToBase(base: Pod): Promise<void> {
  await waitFor("the burst drained and the group back at 0", async () => (await desired()) === 0, {
    timeoutMs: 90_000,
    intervalMs: 1000,
  });
  await waitFor(
    "the spot nodes gone",
    async () => (await poolNodeNames()).length === 0 && spotNodes(defaultStateDir()).length === 0,
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toMatch(/spw-s\d+/);
  const after = await pods("base");
  expect(after.map((p) => p.metadata.name)).toEqual([base.metadata.name]);
  expect(after.every(ready)).toBe(true);
}

describe("spill-over onto real spot nodes", () => {
  it(
    "load above the base's capacity brings real spot nodes whose burst pods answer a share of it; then the burst drains, the nodes go, the base stays",
    { timeout: 420_000 },
    async () => {
      const { base, serviceIp } = await chatModel();
      // Six users against one slot: the base is full from the first second.
      const reportPath = join(dir, "load.json");
      const loadRun = load(serviceIp, { durationSeconds: 75, maxTokens: 48, report: reportPath });

      const burst = await burstServing(loadRun, "two burst replicas on real spot nodes answering", 70_000);
      for (const b of burst) {
        expect(b.pod.spec.nodeName?.startsWith(`${pool}-i-`), b.pod.spec.nodeName).toBe(true);
        // A real kubelet ran it: the node's runtime is containerd, and the node had a folder on this host.
        expect(b.runtime).toMatch(/^containerd:/);
        expect(b.spot).toContain(b.pod.spec.nodeName);
      }
      // Both replicas fit one node (its kubelet reports the host's CPUs): one instance was asked for.
      expect(await desired()).toBeGreaterThanOrEqual(1);

      expect(await loadRun.exit, loadRun.output()).toBe(0);
      const report = JSON.parse(readFileSync(reportPath, "utf8")) as LoadReport;
      expect(report.requests.errors, loadRun.output()).toBe(0);
      expect(report.requests.ok).toBeGreaterThan(0);
      const burstServed = (await Promise.all(burst.map((b) => served(b.pod).catch(() => 0)))).reduce(
        (a, b) => a + b,
        0,
      );
      console.log(
        `[spill] ${report.requests.total} requests, ${burstServed} answered by burst replicas; boots: ${JSON.stringify(nodes?.boots)}`,
      );
      expect(burstServed).toBeGreaterThan(0);

      // Load stopped: after the stabilization window the burst drains first, the instances are
      // terminated, the nodes are gone from the cluster and from this host; the base replica is the same pod.
      await drainedToBase(base);
    },
  );

  it(
    "a spot interruption warning while streams run on the node: cordoned, replaced, the streams finish, 0 failed requests and 0 broken streams",
    { timeout: 420_000 },
    async () => {
      const { base, serviceIp } = await chatModel();
      const reportPath = join(dir, "interrupted.json");
      // Longer answers, streamed half the time: the warning lands while streams run on the node.
      const loadRun = load(serviceIp, { durationSeconds: 100, maxTokens: 200, report: reportPath });
      const first = await burstServing(loadRun, "two burst replicas answering", 70_000);
      const doomed = first[0]!.pod.spec.nodeName!;
      expect(first.every((b) => b.pod.spec.nodeName === doomed)).toBe(true);
      // The node is named after its instance (cloud-nodes.ts).
      const instance = doomed.slice(pool.length + 1);
      // Each doomed pod's own log, followed to its end: its drain line says whether its streams finished.
      const logs = first.map((b) =>
        spawn(tool("kubectl"), ["--kubeconfig", kubeconfig, "logs", "-f", b.pod.metadata.name, "-n", ns]),
      );
      const followed = logs.map((child) => {
        let text = "";
        child.stdout.on("data", (d: Buffer) => (text += d.toString()));
        return { text: () => text, ended: new Promise((r) => child.once("exit", r)) };
      });

      // The warning goes out while a request is in flight on the node.
      await waitFor(
        "a request in flight on the node",
        async () => {
          for (const b of first) {
            const res = await fetch(`http://${b.pod.status.podIP}:8080/metrics`);
            if (sumOf(parsePrometheusText(await res.text()), "spillway_inference_requests_in_flight") > 0)
              return true;
          }
          return false;
        },
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      const warnedAt = Date.now();
      await events.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: "aws.ec2",
              DetailType: "EC2 Spot Instance Interruption Warning",
              Detail: JSON.stringify({ "instance-id": instance, "instance-action": "terminate" }),
            },
          ],
        }),
      );
      await waitFor("the node cordoned", async () =>
        (await kubectl(["get", "node", doomed, "-o", "jsonpath={.spec.unschedulable}"])).includes("true"),
      );
      await waitFor("a replacement asked for", async () => ((await desired()) ?? 0) >= 2, {
        timeoutMs: 30_000,
      });
      const replaced = await burstServing(
        loadRun,
        "two burst replicas answering on the replacement node",
        120_000,
        (p) => p.spec.nodeName === doomed,
      );
      expect(replaced.every((b) => b.pod.spec.nodeName !== doomed)).toBe(true);
      const replacedAt = Date.now();
      await waitFor("the interrupted node gone", async () => !(await poolNodeNames()).includes(doomed), {
        timeoutMs: 90_000,
        intervalMs: 1000,
      });
      await Promise.all(followed.map((f) => f.ended));
      for (const f of followed) {
        const drain = f
          .text()
          .split("\n")
          .find((l) => l.includes('"msg":"drain finished"'));
        expect(drain, f.text().slice(-2000)).toMatch(/"drained":true/);
      }

      expect(await loadRun.exit, loadRun.output()).toBe(0);
      const report = JSON.parse(readFileSync(reportPath, "utf8")) as LoadReport;
      console.log(
        `[interruption] warning → replacement serving ${((replacedAt - warnedAt) / 1000).toFixed(1)}s; ${report.requests.total} requests, by outcome ${JSON.stringify(report.requests.byStatus)}, by kind ${JSON.stringify(report.requests.byKind)}`,
      );
      expect(report.requests.byKind["chat+stream"]).toBeGreaterThan(0);
      expect(report.requests.errors, JSON.stringify(report.requests.byStatus)).toBe(0);
      expect(report.requests.byStatus.stream_error ?? 0).toBe(0);
      await drainedToBase(base);
    },
  );
});
