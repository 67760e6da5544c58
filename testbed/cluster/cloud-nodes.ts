import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from "@aws-sdk/client-auto-scaling";
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeLaunchTemplatesCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import type { Kubectl } from "../../src/lib/kubectl.js";
import { KWOK_TAINT, POOL_LABEL, nodeManifest, type NodePool } from "./topology.js";

/**
 * The test bed's stand-in for cloud-init and the k3s agent: every in-service instance of an emulated
 * Auto Scaling group becomes a kwok Node of its pool (labels, taint, capacity, and the providerID a real
 * node gets from its cloud), and the Node goes when the instance leaves the group. With it, the operator's
 * AWS driver runs against the AWS emulator exactly as against AWS, and burst pods find nodes to run on.
 */

export interface CloudPool {
  /** The BurstPool name (the nodes' spillway.dev/pool label). */
  name: string;
  group: string;
  region: string;
  cpu: string;
  memory: string;
  /** Instances of this pool never join (a pool that does not deliver). */
  neverJoin?: boolean;
}

export class CloudNodes {
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  /** Instances seen per pool, for the test's story. */
  readonly joined = new Set<string>();

  constructor(
    private readonly o: {
      kubectl: Kubectl;
      autoscaling: AutoScalingClient;
      /** The pools to mirror; more may be added while it runs. */
      pools: CloudPool[];
      kubeletVersion: string;
      log?: (line: string) => void;
    },
  ) {}

  start(intervalMs = 500): void {
    this.timer = setInterval(() => {
      this.syncing ??= this.sync()
        .catch((err: unknown) => this.o.log?.(`cloud nodes: ${String(err)}`))
        .finally(() => (this.syncing = undefined));
    }, intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
  }

  async sync(): Promise<void> {
    for (const pool of this.o.pools) {
      const out = await this.o.autoscaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [pool.group] }),
      );
      const instances = (out.AutoScalingGroups?.[0]?.Instances ?? []).flatMap((i) =>
        i.LifecycleState === "InService" && i.InstanceId
          ? [{ id: i.InstanceId, zone: i.AvailabilityZone }]
          : [],
      );
      const nodes = (
        await this.o.kubectl.json<{ items: { metadata: { name: string }; spec: { providerID?: string } }[] }>(
          ["get", "nodes", "-l", `${POOL_LABEL}=${pool.name}`],
        )
      ).items;
      const have = new Set(nodes.map((n) => n.spec.providerID?.split("/").at(-1)));
      const want = new Set(pool.neverJoin ? [] : instances.map((i) => i.id));
      for (const { id, zone: az } of instances) {
        if (!want.has(id) || have.has(id)) continue;
        const zone = az ?? `${pool.region}a`;
        await this.o.kubectl(["apply", "-f", "-"], JSON.stringify(this.manifest(pool, id, zone)));
        this.joined.add(id);
        this.o.log?.(`cloud nodes: ${id} joined ${pool.name}`);
      }
      for (const n of nodes) {
        const id = n.spec.providerID?.split("/").at(-1);
        if (id && want.has(id)) continue;
        await this.o.kubectl(["delete", "node", n.metadata.name, "--wait=false", "--ignore-not-found"]);
        this.o.log?.(`cloud nodes: ${n.metadata.name} left ${pool.name}`);
      }
    }
  }

  private manifest(pool: CloudPool, instanceId: string, zone: string) {
    const shape: NodePool = {
      name: pool.name,
      tier: "burst",
      provider: "aws",
      region: pool.region,
      instanceType: "emulated",
      count: 1,
      cpu: pool.cpu,
      memory: pool.memory,
      spot: true,
    };
    const m = nodeManifest(shape, 0, this.o.kubeletVersion);
    const name = `${pool.name}-${instanceId}`;
    return {
      ...m,
      metadata: { ...m.metadata, name, labels: { ...m.metadata.labels, "kubernetes.io/hostname": name } },
      // Without kwok's taint: the spot taint and the pool's affinity already keep every other pod off, and
      // a smoke run's burst replica, from a namespace that is not simulated, must be able to land here.
      spec: {
        ...m.spec,
        taints: m.spec.taints.filter((t) => t.key !== KWOK_TAINT.key),
        providerID: `aws:///${zone}/${instanceId}`,
      },
    };
  }
}

/**
 * An empty Auto Scaling group in the AWS emulator, as the aws-spot stack makes it (a launch template in a
 * subnet of its own; the emulator runs an instance for each unit of desired capacity). The network and
 * template are made once per emulator and shared by later groups.
 */
export async function emulatedGroup(opts: {
  endpoint: string;
  region: string;
  name: string;
  maxSize: number;
}): Promise<void> {
  const aws = {
    endpoint: opts.endpoint,
    region: opts.region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  };
  const ec2 = new EC2Client(aws);
  const autoscaling = new AutoScalingClient(aws);
  const template = "spillway-test-bed";
  const known = await ec2
    .send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [template] }))
    .then((r) => r.LaunchTemplates?.length ?? 0)
    .catch(() => 0);
  if (!known)
    await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: template,
        LaunchTemplateData: { ImageId: "ami-12c6146b", InstanceType: "t3.small" },
      }),
    );
  // Addresses from the range reserved for network tests: nothing here is ever routed.
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "198.18.0.0/16" }));
  const subnet = await ec2.send(
    new CreateSubnetCommand({
      VpcId: vpc.Vpc?.VpcId ?? "",
      CidrBlock: "198.18.1.0/24",
      AvailabilityZone: `${opts.region}a`,
    }),
  );
  await autoscaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: opts.name,
      LaunchTemplate: { LaunchTemplateName: template, Version: "$Latest" },
      MinSize: 0,
      MaxSize: opts.maxSize,
      DesiredCapacity: 0,
      VPCZoneIdentifier: subnet.Subnet?.SubnetId ?? "",
    }),
  );
}
