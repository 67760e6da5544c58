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
import { startComputeStandIn, type ComputeStandIn } from "../../testbed/gce/server.js";
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
// the load run counts 0 failed requests and 0 broken streams. The same for a GCP pool: its managed
// instance group lives in the Compute stand-in, a VM is preempted as GCE does it (preempted=TRUE and a
// 30 s soft off), and the operator acts on the taint the node termination handler puts on its node.
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
const gcpPool = `gspot-${run}`;
/** A pool whose instances never join: the fallback story's first choice. */
const deadPool = `dead-${run}`;
const project = "spillway-test";
const gcpRegion = "europe-west4";
let compute: ComputeStandIn | undefined;
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
const desiredOf = async (asg: string) =>
  (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [asg] })))
    .AutoScalingGroups?.[0]?.DesiredCapacity ?? 0;
const desired = () => desiredOf(group);
const poolEvents = (name: string) =>
  kubectl([
    "get",
    "events",
    "-n",
    "default",
    "--field-selector",
    `involvedObject.name=${name}`,
    "-o",
    "jsonpath={.items[*].reason}",
  ]);
/** The managed instance group's VMs that are not gone (the stand-in's own listing). */
const gcpVms = () =>
  compute?.instances(project, gcpRegion, gcpPool).filter((vm) => vm.currentAction !== "DELETING") ?? [];

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
  // The GCP pool: a managed instance group of spot VMs in the Compute stand-in, with GCE's 30 s soft off.
  compute = await startComputeStandIn({ graceSeconds: 30 });
  await compute.createGroup({ project, region: gcpRegion, name: gcpPool, targetSize: 0 });
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "BurstPool",
      metadata: { name: gcpPool, labels: { "spillway.dev/test-run": run } },
      spec: {
        provider: "gcp",
        project,
        region: gcpRegion,
        group: gcpPool,
        nodeCapacity: { cpu: 1, memory: "4Gi" },
        maxNodes: 2,
        hourlyPriceUsd: 0.08,
      },
    }),
  );
  await emulatedGroup({ endpoint, region, name: `${deadPool}-asg`, maxSize: 2 });
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "BurstPool",
      metadata: { name: deadPool, labels: { "spillway.dev/test-run": run } },
      spec: {
        provider: "aws",
        region,
        group: `${deadPool}-asg`,
        nodeCapacity: { cpu: 1, memory: "4Gi" },
        maxNodes: 2,
        hourlyPriceUsd: 0.05,
      },
    }),
  );
  const version = (await kubectl.json<{ serverVersion: { gitVersion: string } }>(["version"])).serverVersion
    .gitVersion;
  nodes = new CloudNodes({
    kubectl,
    autoscaling,
    computeStandIn: compute.url,
    pools: [
      { name: pool, group, region, cpu: "1", memory: "4Gi" },
      { name: gcpPool, provider: "gcp", project, group: gcpPool, region: gcpRegion, cpu: "1", memory: "4Gi" },
      { name: deadPool, group: `${deadPool}-asg`, region, cpu: "1", memory: "4Gi", neverJoin: true },
    ],
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
        // Long enough for a first boot that bakes the node image (about 17 s), short for the fallback story.
        joinTimeoutSeconds: 30,
        aws: { endpoint },
        gcp: { endpoint: compute.apiRoot },
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
  await autoscaling
    .send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: `${deadPool}-asg`, ForceDelete: true }))
    .catch(() => undefined);
  await kubectl(["delete", "burstpool", pool, gcpPool, deadPool, "--ignore-not-found"]).catch(() => "");
  expect(compute?.violations() ?? []).toEqual([]);
  await compute?.close();
  await kubectl(["delete", "namespace", ns, "--wait=false"]).catch(() => "");
}, 120_000);

/** The platform engineer's model (idempotent): one base replica of one slot, two burst replicas at most. */
async function chatModel(pools: string[]): Promise<{ base: Pod; serviceIp: string }> {
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
        replicas: { base: { min: 1, max: 1 }, burst: { max: 2, pools } },
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

const poolNodeNames = async (name: string) =>
  (await kubectl(["get", "nodes", "-l", `spillway.dev/pool=${name}`, "-o", "name"]))
    .split("\n")
    .filter(Boolean)
    .map((n) => n.replace("node/", ""));

/** Load stopped: the burst drains, the group goes back to 0, the spot nodes go; the base is the same pod. */
async function drainedToBase(
  base: Pod,
  o: { pool: string; size: () => Promise<number> | number },
): Promise<void> {
  await waitFor("the burst drained and the group back at 0", async () => (await o.size()) === 0, {
    timeoutMs: 120_000,
    intervalMs: 1000,
  });
  await waitFor(
    "the spot nodes gone",
    async () => (await poolNodeNames(o.pool)).length === 0 && spotNodes(defaultStateDir()).length === 0,
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toMatch(/spw-s\d+/);
  const after = await pods("base");
  expect(after.map((p) => p.metadata.name)).toEqual([base.metadata.name]);
  expect(after.every(ready)).toBe(true);
}

/** A pod's log followed to its end (the pod's own drain lines are the proof its streams finished). */
function followLog(pod: Pod): { text: () => string; ended: Promise<unknown> } {
  const child = spawn(tool("kubectl"), [
    "--kubeconfig",
    kubeconfig,
    "logs",
    "-f",
    pod.metadata.name,
    "-n",
    ns,
  ]);
  let text = "";
  child.stdout.on("data", (d: Buffer) => (text += d.toString()));
  return { text: () => text, ended: new Promise((r) => child.once("exit", r)) };
}

/**
 * The interruption story, for either cloud: load with streams through the Service, both burst replicas
 * serving on one spot node, `interrupt` while a request is in flight there; the node is cordoned, a
 * replacement node of the pool serves both replicas, the interrupted node goes, each interrupted pod's
 * drain finishes its streams, and the load run counts no failed request and no broken stream.
 */
async function interruptionStory(o: {
  pool: string;
  size: () => Promise<number> | number;
  interrupt: (node: string) => Promise<void>;
  report: string;
}): Promise<void> {
  const { base, serviceIp } = await chatModel([o.pool]);
  const reportPath = join(dir, o.report);
  // Longer answers, streamed half the time: the notice lands while streams run on the node.
  const loadRun = load(serviceIp, { durationSeconds: 100, maxTokens: 200, report: reportPath });
  const first = await burstServing(loadRun, "two burst replicas answering", 90_000);
  const doomed = first[0]!.pod.spec.nodeName!;
  expect(doomed.startsWith(`${o.pool}-`), doomed).toBe(true);
  expect(first.every((b) => b.pod.spec.nodeName === doomed)).toBe(true);
  const logs = first.map((b) => followLog(b.pod));

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
  const noticeAt = Date.now();
  await o.interrupt(doomed);
  await waitFor("the node cordoned", async () =>
    (await kubectl(["get", "node", doomed, "-o", "jsonpath={.spec.unschedulable}"])).includes("true"),
  );
  const replaced = await burstServing(
    loadRun,
    "two burst replicas answering on a replacement node",
    120_000,
    (p) => p.spec.nodeName === doomed,
  );
  expect(
    replaced.every((b) => b.pod.spec.nodeName !== doomed && b.pod.spec.nodeName?.startsWith(`${o.pool}-`)),
  ).toBe(true);
  const replacedAt = Date.now();
  await waitFor("the interrupted node gone", async () => !(await poolNodeNames(o.pool)).includes(doomed), {
    timeoutMs: 90_000,
    intervalMs: 1000,
  });
  await Promise.all(logs.map((l) => l.ended));
  for (const l of logs) {
    const drain = l
      .text()
      .split("\n")
      .find((line) => line.includes('"msg":"drain finished"'));
    expect(drain, l.text().slice(-2000)).toMatch(/"drained":true/);
  }

  expect(await loadRun.exit, loadRun.output()).toBe(0);
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as LoadReport;
  console.log(
    `[${o.report}] notice → replacement serving ${((replacedAt - noticeAt) / 1000).toFixed(1)}s; ${report.requests.total} requests, by outcome ${JSON.stringify(report.requests.byStatus)}, by kind ${JSON.stringify(report.requests.byKind)}, p99 ${report.latencyMs.p99} ms`,
  );
  expect(report.requests.byKind["chat+stream"]).toBeGreaterThan(0);
  expect(report.requests.errors, JSON.stringify(report.requests.byStatus)).toBe(0);
  expect(report.requests.byStatus.stream_error ?? 0).toBe(0);
  await drainedToBase(base, o);
}

describe("spill-over onto real spot nodes", () => {
  it(
    "load above the base's capacity brings real spot nodes whose burst pods answer a share of it; then the burst drains, the nodes go, the base stays",
    { timeout: 420_000 },
    async () => {
      const { base, serviceIp } = await chatModel([pool]);
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
      await drainedToBase(base, { pool, size: desired });
    },
  );

  it(
    "a spot interruption warning while streams run on the node: cordoned, replaced, the streams finish, 0 failed requests and 0 broken streams",
    { timeout: 420_000 },
    async () => {
      await interruptionStory({
        pool,
        size: desired,
        report: "aws-interruption.json",
        // EC2's two-minute warning, through EventBridge onto the pool's queue. The node is named after its instance.
        interrupt: async (node) => {
          await events.send(
            new PutEventsCommand({
              Entries: [
                {
                  Source: "aws.ec2",
                  DetailType: "EC2 Spot Instance Interruption Warning",
                  Detail: JSON.stringify({
                    "instance-id": node.slice(pool.length + 1),
                    "instance-action": "terminate",
                  }),
                },
              ],
            }),
          );
        },
      });
    },
  );

  it(
    "a GCP preemption while streams run on the node: the soft off's 30 s are enough to move the burst, 0 failed requests and 0 broken streams",
    { timeout: 420_000 },
    async () => {
      await interruptionStory({
        pool: gcpPool,
        size: () => gcpVms().length,
        report: "gcp-preemption.json",
        interrupt: async (node) => {
          const vm = gcpVms().find((v) => node === `${gcpPool}-${v.name}`.toLowerCase());
          if (!vm) throw new Error(`no VM of ${gcpPool} runs node ${node}: ${JSON.stringify(gcpVms())}`);
          compute!.preempt(project, vm.zone, vm.name);
          await waitFor("the node tainted as its VM is preempted", async () =>
            (await kubectl(["get", "node", node, "-o", "jsonpath={.spec.taints[*].key}"])).includes(
              "cloud.google.com/impending-node-termination",
            ),
          );
        },
      });
    },
  );
  it(
    "a pool whose instances never join: after its join timeout the next pool serves, for real, and the dead pool's instances are removed",
    { timeout: 420_000 },
    async () => {
      const { base, serviceIp } = await chatModel([deadPool, gcpPool]);
      const reportPath = join(dir, "fallback.json");
      const loadRun = load(serviceIp, { durationSeconds: 90, maxTokens: 48, report: reportPath });
      await waitFor("the first pool's group raised", async () => (await desiredOf(`${deadPool}-asg`)) >= 1, {
        timeoutMs: 30_000,
      });
      const burst = await burstServing(
        loadRun,
        "two burst replicas answering on the next pool's nodes",
        150_000,
      );
      for (const b of burst)
        expect(b.pod.spec.nodeName?.startsWith(`${gcpPool}-`), b.pod.spec.nodeName).toBe(true);
      expect(await poolEvents(deadPool)).toMatch(/JoinTimeout/);
      expect(await poolNodeNames(deadPool)).toEqual([]);
      await waitFor(
        "the dead pool's instances removed",
        async () => (await desiredOf(`${deadPool}-asg`)) === 0,
        {
          timeoutMs: 30_000,
        },
      );

      expect(await loadRun.exit, loadRun.output()).toBe(0);
      const report = JSON.parse(readFileSync(reportPath, "utf8")) as LoadReport;
      console.log(
        `[fallback] ${report.requests.total} requests, by outcome ${JSON.stringify(report.requests.byStatus)}`,
      );
      expect(report.requests.errors, JSON.stringify(report.requests.byStatus)).toBe(0);
      await drainedToBase(base, { pool: gcpPool, size: () => gcpVms().length });
    },
  );
});
