import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import {
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from "@aws-sdk/client-eventbridge";
import { CloudNodes, emulatedGroup, type CloudPool } from "../../testbed/cluster/cloud-nodes.js";
import { applyCrds, kubectlFor, uniqueName, simulatedNamespace } from "../helpers/kube.js";
import { startOperator, type OperatorProcess } from "../helpers/operator.js";
import { podStandIns, steadyLoad, type StandIns } from "../helpers/stand-ins.js";
import { waitFor } from "../helpers/wait.js";

// The operator's spill-over decisions against the AWS emulator, on simulated capacity: load on a model's
// base pods (real Spillway servers standing in for the kwok pods) fills the base, the operator raises an
// Auto Scaling group's desired capacity, its instances join as kwok nodes, burst pods are scheduled there;
// when the load stops, burst drains, the empty nodes are removed by instance and the group goes back to 0.
// Nothing here says a burst pod serves: spill-over.test.ts does that with real spot nodes and real pods.
const endpoint = inject("awsEndpoint");
const kubeconfig = inject("kubeconfig");
const kubectl = kubectlFor(kubeconfig);
const region = "eu-central-1";
const aws = { endpoint, region, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
const autoscaling = new AutoScalingClient(aws);
const sqs = new SQSClient(aws);
const events = new EventBridgeClient(aws);
const ns = uniqueName("burst");
const run = ns.split("-")[1]!;
const cleanups: (() => Promise<unknown>)[] = [];

const desiredOf = async (name: string) =>
  (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })))
    .AutoScalingGroups?.[0]?.DesiredCapacity;

/** A BurstPool over one emulated group: 2-CPU nodes, so two 1-CPU replicas fit on one. */
async function burstPool(name: string, group: string, extra: Record<string, unknown> = {}) {
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "BurstPool",
      metadata: { name, labels: { "spillway.dev/test-run": run } },
      spec: {
        provider: "aws",
        region,
        group,
        nodeCapacity: { cpu: 2, memory: "8Gi" },
        maxNodes: 4,
        hourlyPriceUsd: 0.1,
        ...extra,
      },
    }),
  );
  cleanups.push(() => kubectl(["delete", "burstpool", name, "--ignore-not-found"]));
}

function model(name: string, pools: string[], extra: Record<string, unknown> = {}) {
  return stringify({
    apiVersion: "spillway.dev/v1alpha1",
    kind: "InferenceModel",
    metadata: { name, namespace: ns },
    spec: {
      model: { uri: "https://models.example/tiny.gguf" },
      server: { parallel: 2, resources: { requests: { cpu: "1", memory: "1Gi" } } },
      replicas: { base: { min: 1, max: 2 }, burst: { max: 2, pools } },
      autoscaling: { metric: "inFlight", target: 2, scaleDownStabilizationSeconds: 4 },
      ...extra,
    },
  });
}

interface Im {
  status?: {
    replicas?: { base: { desired: number; ready: number }; burst: { desired: number; ready: number } };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}
const getModel = (name: string) => kubectl.json<Im>(["get", "im", name, "-n", ns]);
const condition = (m: Im, type: string) => m.status?.conditions?.find((c) => c.type === type);
const poolCondition = async (pool: string, type: string) =>
  (
    await kubectl.json<{
      status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
    }>(["get", "burstpool", pool])
  ).status?.conditions?.find((c) => c.type === type);
/** The reasons of a pool's Events (cluster-scoped objects' Events live in the default namespace). */
const poolEvents = (pool: string) =>
  kubectl([
    "get",
    "events",
    "-n",
    "default",
    "--field-selector",
    `involvedObject.name=${pool}`,
    "-o",
    "jsonpath={.items[*].reason}",
  ]);
const poolNodes = async (pool: string) =>
  (
    await kubectl.json<{ items: { metadata: { name: string }; spec: { unschedulable?: boolean } }[] }>([
      "get",
      "nodes",
      "-l",
      `spillway.dev/pool=${pool}`,
    ])
  ).items;

async function operator(): Promise<OperatorProcess> {
  const op = await startOperator({
    kubeconfig,
    identity: `burst-${run}`,
    leaseNamespace: ns,
    config: {
      namespaces: [ns],
      load: { intervalSeconds: 1, metricsUrl: standIns!.metricsUrl },
      pools: {
        selector: `spillway.dev/test-run=${run}`,
        intervalSeconds: 1,
        joinTimeoutSeconds: 8,
        backoffSeconds: 20,
        emptyNodeCooldownSeconds: 2,
        interruptionForceDrainSeconds: 3,
        aws: { endpoint },
        gcp: { enabled: false },
      },
    },
  });
  cleanups.push(() => op.kill());
  return op;
}

let standIns: StandIns | undefined;
let nodes: CloudNodes | undefined;
const cloudPools: CloudPool[] = [];

/** An emulated ASG and the BurstPool over it; its instances join as nodes unless `neverJoin`. */
async function spotPool(
  suffix: string,
  opts: { neverJoin?: boolean; cpu?: number; extra?: Record<string, unknown> } = {},
) {
  const name = `spot-${run}-${suffix}`;
  const asg = `${name}-asg`;
  await emulatedGroup({ endpoint, region, name: asg, maxSize: 4 });
  await burstPool(name, asg, { nodeCapacity: { cpu: opts.cpu ?? 2, memory: "8Gi" }, ...opts.extra });
  cloudPools.push({
    name,
    group: asg,
    region,
    cpu: String(opts.cpu ?? 2),
    memory: "8Gi",
    ...(opts.neverJoin ? { neverJoin: true } : {}),
  });
  return { name, asg };
}

beforeAll(async () => {
  await applyCrds(kubectl);
  await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace(ns)));
  const version = JSON.parse(await kubectl(["version", "-o", "json"])) as {
    serverVersion: { gitVersion: string };
  };
  nodes = new CloudNodes({
    kubectl,
    autoscaling,
    pools: cloudPools,
    kubeletVersion: version.serverVersion.gitVersion,
    nodes: { kind: "kwok" },
  });
  nodes.start();
  standIns = await podStandIns({ kubectl, namespace: ns, model: "chat", parallel: 2 });
  await operator();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await nodes?.stop();
  await standIns?.stop();
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
});

describe("spill-over decisions on simulated spot capacity (kwok nodes, stand-in servers)", () => {
  it("fills the base, schedules burst replicas onto nodes the operator asks the ASG for, and drains back to 0", async () => {
    const { name: pool, asg } = await spotPool("load");
    const standIns_ = standIns!;

    await kubectl(["apply", "-f", "-"], model("chat", [pool]));
    await waitFor(
      "chat Ready on its base pod",
      async () => condition(await getModel("chat"), "Ready")?.status === "True",
      {
        timeoutMs: 60_000,
      },
    );
    const basePod = await waitFor(
      "the base pod's stand-in",
      () => standIns_.pods().find((p) => standIns_.url(p)),
      {
        timeoutMs: 60_000,
      },
    );

    // 8 clients on 2 slots: 2 busy + 6 queued = 8 in flight at a target of 2 → 4 replicas: base 2, burst 2.
    const load = steadyLoad(standIns_.url(basePod)!, { concurrency: 8, maxRequests: 2000, maxSeconds: 120 });
    try {
      const t0 = Date.now();
      await waitFor("base at max and burst asked for", async () => {
        const m = await getModel("chat");
        return m.status?.replicas?.base.desired === 2 && m.status.replicas.burst.desired === 2;
      });
      await waitFor("the ASG's desired capacity raised", async () => (await desiredOf(asg)) === 1);
      await waitFor(
        "burst replicas Ready on the spot node",
        async () => {
          const m = await getModel("chat");
          return m.status?.replicas?.burst.ready === 2 && condition(m, "Bursting")?.status === "True";
        },
        { timeoutMs: 60_000 },
      );
      console.log(`[burst] load step → 2 burst replicas Ready on a new spot node in ${Date.now() - t0} ms`);
      const spot = await poolNodes(pool);
      expect(spot).toHaveLength(1);
      const pods = await kubectl.json<{ items: { spec: { nodeName?: string } }[] }>([
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        "spillway.dev/model=chat,spillway.dev/tier=burst",
      ]);
      expect(pods.items.map((p) => p.spec.nodeName)).toEqual([
        spot[0]!.metadata.name,
        spot[0]!.metadata.name,
      ]);
    } finally {
      await load.stop();
    }
    expect(load.failed).toBe(0);

    // Load gone: after the 4 s window burst drains first, then base returns to min; the empty node is
    // cordoned and its instance terminated (desired back to 0), and the node leaves the cluster.
    await waitFor(
      "burst drained and base back to min",
      async () => {
        const m = await getModel("chat");
        return m.status?.replicas?.burst.desired === 0 && m.status.replicas.base.desired === 1;
      },
      { timeoutMs: 60_000 },
    );
    await waitFor("ASG back to 0", async () => (await desiredOf(asg)) === 0, { timeoutMs: 60_000 });
    await waitFor("the spot node gone", async () => (await poolNodes(pool)).length === 0, {
      timeoutMs: 30_000,
    });
    // The pool's status follows on the controller's next round (every second here).
    const poolStatus = async () =>
      (
        await kubectl.json<{ status: { desiredNodes: number; readyNodes: number } }>([
          "get",
          "burstpool",
          pool,
        ])
      ).status;
    await waitFor(
      "the pool's status back to 0 nodes",
      async () => {
        const st = await poolStatus();
        return st.desiredNodes === 0 && st.readyNodes === 0;
      },
      { timeoutMs: 10_000 },
    );
    expect(await poolStatus()).toMatchObject({ desiredNodes: 0, readyNodes: 0 });
  }, 180_000);

  it("spills a base that is full onto spot nodes at once, whatever the load, and says so", async () => {
    // 9 CPUs fit no 8-CPU base node; the pool's nodes have 16.
    const { name: pool, asg } = await spotPool("full", { cpu: 16 });
    await kubectl(
      ["apply", "-f", "-"],
      model("big", [pool], {
        server: { parallel: 2, resources: { requests: { cpu: "9", memory: "1Gi" } } },
        autoscaling: undefined,
      }),
    );
    const m = await waitFor(
      "the base reported full",
      async () => {
        const m = await getModel("big");
        return condition(m, "Progressing")?.reason === "BaseFull" ? m : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(condition(m, "Progressing")?.message).toMatch(/Insufficient cpu/);
    await waitFor("the ASG raised for the spilled replica", async () => (await desiredOf(asg)) === 1);
    const served = await waitFor(
      "Ready on the burst tier",
      async () => {
        const m = await getModel("big");
        return condition(m, "Ready")?.status === "True" ? m : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(condition(served, "Bursting")).toMatchObject({ status: "True", reason: "BaseFull" });
    expect(served.status?.replicas?.burst).toMatchObject({ desired: 1, ready: 1 });
    await kubectl(["delete", "im", "big", "-n", ns]);
    await waitFor("ASG back to 0 once the model is gone", async () => (await desiredOf(asg)) === 0, {
      timeoutMs: 60_000,
    });
  }, 180_000);

  it("stops the burst at the spend cap, asks the cloud for nothing, and says so", async () => {
    const { name: pool, asg } = await spotPool("capped", { cpu: 16 });
    // 0.05 $/h does not pay for one 0.1 $/h node.
    await kubectl(
      ["apply", "-f", "-"],
      model("capped", [pool], {
        server: { parallel: 2, resources: { requests: { cpu: "9", memory: "1Gi" } } },
        autoscaling: undefined,
        budget: { maxSpotHourlyUsd: 0.05 },
      }),
    );
    const m = await waitFor("Bursting=False SpendCapReached", async () => {
      const m = await getModel("capped");
      return condition(m, "Bursting")?.reason === "SpendCapReached" ? m : undefined;
    });
    expect(condition(m, "Bursting")?.message).toMatch(/maxSpotHourlyUsd 0.05 pays for 0 of 2/);
    expect(condition(m, "Ready")).toMatchObject({ status: "False", reason: "BaseFull" });
    await new Promise((r) => setTimeout(r, 3000));
    expect(await desiredOf(asg)).toBe(0);
    await kubectl(["delete", "im", "capped", "-n", ns]);
  }, 180_000);

  it("falls back to the next pool when a pool's instances never join, and the pool recovers", async () => {
    const dead = await spotPool("dead", { cpu: 16, neverJoin: true });
    const next = await spotPool("next", { cpu: 16 });
    await kubectl(
      ["apply", "-f", "-"],
      model("fallback", [dead.name, next.name], {
        server: { parallel: 2, resources: { requests: { cpu: "9", memory: "1Gi" } } },
        autoscaling: undefined,
      }),
    );
    await waitFor("the first pool asked", async () => (await desiredOf(dead.asg)) === 1);
    const unavailable = await waitFor(
      "the first pool unavailable after the join timeout",
      async () => {
        const c = await poolCondition(dead.name, "Available");
        return c?.status === "False" ? c : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(unavailable.reason).toBe("JoinTimeout");
    // The instance that never joined is removed, and the demand goes to the next pool.
    await waitFor("the dead pool back to 0", async () => (await desiredOf(dead.asg)) === 0);
    await waitFor("the next pool asked", async () => (await desiredOf(next.asg)) === 1);
    await waitFor(
      "Ready through the next pool",
      async () => condition(await getModel("fallback"), "Ready")?.status === "True",
      { timeoutMs: 60_000 },
    );
    expect(await poolEvents(dead.name)).toMatch(/JoinTimeout/);
    await waitFor(
      "the first pool available again after its backoff",
      async () => (await poolCondition(dead.name, "Available"))?.status === "True",
      { timeoutMs: 40_000 },
    );
    await kubectl(["delete", "im", "fallback", "-n", ns]);
  }, 180_000);

  it("drains a node on a spot interruption warning and replaces it before the instance goes", async () => {
    // The aws-spot stack's queue and rule, made here in the emulator: EC2's warning → EventBridge → SQS.
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `spot-${run}-interruptions` })))
      .QueueUrl!;
    const queueArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))
    ).Attributes!.QueueArn!;
    const rule = `spot-${run}-interruption`;
    await events.send(
      new PutRuleCommand({
        Name: rule,
        EventPattern: JSON.stringify({
          source: ["aws.ec2"],
          "detail-type": ["EC2 Spot Instance Interruption Warning"],
        }),
      }),
    );
    await events.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: "queue", Arn: queueArn }] }));
    const { name: pool, asg } = await spotPool("interrupted", {
      cpu: 16,
      extra: { interruptionQueue: queueUrl },
    });
    await kubectl(
      ["apply", "-f", "-"],
      model("spot", [pool], {
        server: { parallel: 2, resources: { requests: { cpu: "9", memory: "1Gi" } } },
        autoscaling: undefined,
      }),
    );
    await waitFor(
      "Ready on a spot node",
      async () => condition(await getModel("spot"), "Ready")?.status === "True",
      {
        timeoutMs: 60_000,
      },
    );
    const [first] = await poolNodes(pool);
    const instance = first!.metadata.name.slice(pool.length + 1);
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
      (await poolNodes(pool)).some((n) => n.metadata.name === first!.metadata.name && n.spec.unschedulable),
    );
    await waitFor("a replacement asked for", async () => (await desiredOf(asg)) === 2);
    await waitFor(
      "the replica Ready on the replacement node, the interrupted instance gone",
      async () => {
        const names = (await poolNodes(pool)).map((n) => n.metadata.name);
        const m = await getModel("spot");
        return (
          !names.includes(first!.metadata.name) && names.length === 1 && m.status?.replicas?.burst.ready === 1
        );
      },
      { timeoutMs: 60_000 },
    );
    expect(await desiredOf(asg)).toBe(1);
    await kubectl(["delete", "im", "spot", "-n", ns]);
  }, 180_000);

  it("names a group that does not exist and a queue that is missing, with one event each", async () => {
    const name = `spot-${run}-missing`;
    await burstPool(name, `${name}-no-such-group`, {
      interruptionQueue: `${endpoint}/000000000000/${name}-no-such-queue`,
    });
    const pool = await waitFor("the missing group and queue reported", async () => {
      const available = await poolCondition(name, "Available");
      const queue = await poolCondition(name, "InterruptionsRead");
      return available?.status === "False" && queue?.status === "False" ? { available, queue } : undefined;
    });
    expect(pool.available).toMatchObject({ reason: "GroupUnreadable" });
    expect(pool.available.message).toMatch(/no-such-group does not exist/);
    expect(pool.queue.reason).toBe("QueueUnreadable");
    const events = await poolEvents(name);
    // One event each when they start failing, not one per round.
    await new Promise((r) => setTimeout(r, 3000));
    const later = await poolEvents(name);
    expect(later.split(" ").sort()).toEqual(["GroupUnreadable", "InterruptionQueueUnreadable"]);
    expect(later).toBe(events);
  }, 60_000);
});
