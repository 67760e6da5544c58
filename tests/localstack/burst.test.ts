import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from "@aws-sdk/client-auto-scaling";
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { CloudNodes, type CloudPool } from "../../src/cli/local-cluster/cloud-nodes.js";
import { repoRoot } from "../../src/cli/lib/paths.js";
import { kubectlFor, uniqueName } from "../helpers/kube.js";
import { startOperator, type OperatorProcess } from "../helpers/operator.js";
import { podStandIns, steadyLoad, type StandIns } from "../helpers/stand-ins.js";
import { waitFor } from "../helpers/wait.js";

// A platform engineer's model spills over onto spot capacity: load on its base pods (real Spillway
// servers standing in for the kwok pods) fills the base, the operator raises an Auto Scaling group's
// desired capacity in the AWS emulator, its instances join as nodes, burst pods run there; when the load
// stops, burst drains, the empty nodes are removed by instance and the group goes back to 0.
const endpoint = inject("awsEndpoint");
const kubeconfig = inject("kubeconfig");
const kubectl = kubectlFor(kubeconfig);
const region = "eu-central-1";
const aws = { endpoint, region, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
const autoscaling = new AutoScalingClient(aws);
const ec2 = new EC2Client(aws);
const ns = uniqueName("burst");
const run = ns.split("-")[1]!;
let subnet = "";
let template = "";
const cleanups: (() => Promise<unknown>)[] = [];

async function group(name: string, max = 4) {
  await autoscaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchTemplate: { LaunchTemplateName: template, Version: "$Latest" },
      MinSize: 0,
      MaxSize: max,
      DesiredCapacity: 0,
      VPCZoneIdentifier: subnet,
    }),
  );
}
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
      metadata: { name },
      spec: {
        provider: "aws",
        region,
        group,
        nodeLabels: {
          "spillway.dev/tier": "burst",
          "spillway.dev/provider": "aws",
          "spillway.dev/pool": name,
        },
        nodeTaints: [{ key: "spillway.dev/spot", value: "true", effect: "NoSchedule" }],
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
      load: { intervalSeconds: 1, metricsUrl: standIns.metricsUrl },
      pools: {
        intervalSeconds: 1,
        joinTimeoutSeconds: 8,
        backoffSeconds: 20,
        emptyNodeCooldownSeconds: 2,
        aws: { endpoint },
      },
    },
  });
  cleanups.push(() => op.kill());
  return op;
}

let standIns: StandIns;
let nodes: CloudNodes;

beforeAll(async () => {
  await kubectl(["apply", "--server-side", "-f", join(repoRoot, "charts", "spillway", "crds")]);
  await kubectl(["create", "namespace", ns]);
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "198.18.0.0/16" }));
  const sn = await ec2.send(
    new CreateSubnetCommand({
      VpcId: vpc.Vpc!.VpcId!,
      CidrBlock: "198.18.1.0/24",
      AvailabilityZone: `${region}a`,
    }),
  );
  subnet = sn.Subnet!.SubnetId!;
  template = `spot-${run}`;
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: template,
      LaunchTemplateData: { ImageId: "ami-12c6146b", InstanceType: "t3.small" },
    }),
  );
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await nodes?.stop();
  await standIns?.stop();
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
});

describe("spill-over onto spot capacity", () => {
  it("fills the base, bursts onto nodes the operator asks the ASG for, and drains back to 0", async () => {
    const pool = `spot-${run}-a`;
    const asg = `${pool}-asg`;
    await group(asg);
    await burstPool(pool, asg);
    const version = JSON.parse(await kubectl(["version", "-o", "json"])) as {
      serverVersion: { gitVersion: string };
    };
    const cloudPools: CloudPool[] = [{ name: pool, group: asg, region, cpu: "2", memory: "8Gi" }];
    nodes = new CloudNodes({
      kubectl,
      autoscaling,
      pools: cloudPools,
      kubeletVersion: version.serverVersion.gitVersion,
    });
    nodes.start();
    standIns = await podStandIns({ kubectl, namespace: ns, model: "chat", parallel: 2 });
    await operator();

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
      () => standIns.pods().find((p) => standIns.url(p)),
      {
        timeoutMs: 60_000,
      },
    );

    // 8 clients on 2 slots: 2 busy + 6 queued = 8 in flight at a target of 2 → 4 replicas: base 2, burst 2.
    const load = steadyLoad(standIns.url(basePod)!, { concurrency: 8, maxRequests: 2000, maxSeconds: 120 });
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
    const pool_ = await kubectl.json<{ status: { desiredNodes: number; readyNodes: number } }>([
      "get",
      "burstpool",
      pool,
    ]);
    expect(pool_.status).toMatchObject({ desiredNodes: 0, readyNodes: 0 });
  });
});
