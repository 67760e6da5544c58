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
import { IMPENDING_TERMINATION_TAINT } from "../../src/api/labels.js";
import type { Kubectl } from "../../src/lib/kubectl.js";
import type { ManagedVm } from "../gce/views.js";
import { bootSpotNode, removeSpotNode, type BootTimings, type SpotNodeSpec } from "./spot-node.js";
import { KWOK_TAINT, POOL_LABEL, nodeManifest, type NodePool } from "./topology.js";

/**
 * The test bed's stand-in for cloud-init and the k3s agent: every in-service instance of an emulated
 * Auto Scaling group becomes a node of its pool (labels, taint, and the providerID a real node gets from
 * its cloud), and the node goes when the instance leaves the group, its Node object too (the cloud
 * controller manager's part). With it, the operator's AWS driver runs against the AWS emulator exactly as
 * against AWS, and burst pods find nodes to run on.
 *
 * A node is real by default: its own kubelet, containerd and network namespace (spot-node.ts), whose burst
 * pods fetch their model and answer requests. `kwok` nodes are simulated: for the scale tiers only, never
 * for a story that says a burst pod serves.
 */

export interface CloudPool {
  /** The BurstPool name (the nodes' spillway.dev/pool label). */
  name: string;
  /** aws (default): an Auto Scaling group in the AWS emulator; gcp: a managed instance group in the Compute stand-in. */
  provider?: "aws" | "gcp";
  /** The gcp pool's project. */
  project?: string;
  group: string;
  region: string;
  cpu: string;
  memory: string;
  /** Instances of this pool never join (a pool that does not deliver). */
  neverJoin?: boolean;
}

export type NodeKind =
  | {
      kind: "real";
      clusterDir: string;
      apiserverPort: number;
      images: string[];
      /** Boot from the baked image (the inference image pre-pulled), as a production node image would. */
      baked: boolean;
      /** Real nodes at once on this machine; an instance beyond it waits for a free one. */
      maxNodes?: number;
      timeoutMs?: number;
    }
  | { kind: "kwok" };

/** An instance of a pool's group that runs (so its node should be there). */
interface Running {
  id: string;
  zone: string;
  /** A GCE VM whose metadata says `preempted=TRUE`: it is in its soft off. */
  preempted?: boolean;
}

/** One real node's boot: from the instance seen in service to the node Ready with kube-proxy up. */
export interface BootRecord {
  instance: string;
  node: string;
  pool: string;
  seconds: number;
  steps: BootTimings;
}

const DEFAULT_MAX_REAL_NODES = 3;

export class CloudNodes {
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private readonly booting = new Map<string, Promise<void>>();
  private readonly real = new Set<string>();
  private readonly waiting = new Set<string>();
  /** Instances seen per pool, for the test's story. */
  readonly joined = new Set<string>();
  readonly boots: BootRecord[] = [];

  constructor(
    private readonly o: {
      kubectl: Kubectl;
      /** For aws pools: the AWS emulator's Auto Scaling API. */
      autoscaling?: AutoScalingClient;
      /** For gcp pools: the Compute stand-in's URL (its test-bed routes list a group's VMs). */
      computeStandIn?: string;
      /** The pools to mirror; more may be added while it runs. */
      pools: CloudPool[];
      kubeletVersion: string;
      nodes: NodeKind;
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

  /** Stops following the groups; real nodes it booted are removed, so nothing outlives the run. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
    await Promise.allSettled(this.booting.values());
    for (const name of [...this.real]) await this.remove(name);
  }

  async sync(): Promise<void> {
    for (const pool of this.o.pools) {
      const instances = await this.running(pool);
      const nodes = (
        await this.o.kubectl.json<{
          items: { metadata: { name: string }; spec: { providerID?: string; taints?: { key: string }[] } }[];
        }>(["get", "nodes", "-l", `${POOL_LABEL}=${pool.name}`])
      ).items;
      const have = new Set(nodes.map((n) => n.spec.providerID?.split("/").at(-1)));
      const want = new Set(pool.neverJoin ? [] : instances.map((i) => i.id));
      for (const { id, zone } of instances) {
        if (!want.has(id) || have.has(id) || this.booting.has(id)) continue;
        this.join(pool, id, zone);
      }
      for (const n of nodes) {
        const id = n.spec.providerID?.split("/").at(-1);
        if (id && want.has(id)) {
          // GKE's node termination handler: a preempted VM's node gets the taint the operator acts on.
          const preempted = instances.find((i) => i.id === id)?.preempted;
          if (preempted && !n.spec.taints?.some((t) => t.key === IMPENDING_TERMINATION_TAINT)) {
            await this.o.kubectl([
              "taint",
              "node",
              n.metadata.name,
              `${IMPENDING_TERMINATION_TAINT}=true:NoSchedule`,
              "--overwrite",
            ]);
            this.o.log?.(`cloud nodes: ${n.metadata.name} preempted, tainted ${IMPENDING_TERMINATION_TAINT}`);
          }
          continue;
        }
        await this.remove(n.metadata.name);
        this.o.log?.(`cloud nodes: ${n.metadata.name} left ${pool.name}`);
      }
    }
  }

  /** The pool's instances that run: in service in the ASG, or a VM up (RUNNING, or STOPPING in its soft off). */
  private async running(pool: CloudPool): Promise<Running[]> {
    if (pool.provider === "gcp") {
      if (!this.o.computeStandIn || !pool.project)
        throw new Error(`${pool.name}: a gcp pool needs the Compute stand-in and a project`);
      const url = `${this.o.computeStandIn}/spillway-testbed/projects/${pool.project}/regions/${pool.region}/instanceGroupManagers/${pool.group}/instances`;
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
      const { instances: vms } = (await res.json()) as { instances: ManagedVm[] };
      return vms
        .filter((vm) => vm.instanceStatus === "RUNNING" || vm.instanceStatus === "STOPPING")
        .map((vm) => ({ id: vm.name, zone: vm.zone, preempted: vm.preempted }));
    }
    if (!this.o.autoscaling) throw new Error(`${pool.name}: an aws pool needs the AWS emulator`);
    const out = await this.o.autoscaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [pool.group] }),
    );
    return (out.AutoScalingGroups?.[0]?.Instances ?? []).flatMap((i) =>
      i.LifecycleState === "InService" && i.InstanceId
        ? [{ id: i.InstanceId, zone: i.AvailabilityZone ?? `${pool.region}a` }]
        : [],
    );
  }

  private join(pool: CloudPool, id: string, zone: string): void {
    const spec = nodeSpec(pool, id, zone, this.o.kubeletVersion);
    const nodes = this.o.nodes;
    if (nodes.kind === "kwok") {
      this.booting.set(
        id,
        this.o
          .kubectl(["apply", "-f", "-"], JSON.stringify(spec.kwok))
          .then(() => {
            this.joined.add(id);
            this.o.log?.(`cloud nodes: ${id} joined ${pool.name} (kwok)`);
          })
          .finally(() => this.booting.delete(id)),
      );
      return;
    }
    if (this.real.size >= (nodes.maxNodes ?? DEFAULT_MAX_REAL_NODES)) {
      if (!this.waiting.has(id))
        this.o.log?.(`cloud nodes: ${id} waits, ${this.real.size} real nodes running`);
      this.waiting.add(id);
      return;
    }
    this.waiting.delete(id);
    this.real.add(spec.name);
    const started = Date.now();
    this.booting.set(
      id,
      bootSpotNode(spec.real, {
        clusterDir: nodes.clusterDir,
        apiserverPort: nodes.apiserverPort,
        images: nodes.images,
        baked: nodes.baked,
        timeoutMs: nodes.timeoutMs ?? 120_000,
        kubectl: (args) => this.o.kubectl(args),
      })
        .then((steps) => {
          const seconds = (Date.now() - started) / 1000;
          this.boots.push({ instance: id, node: spec.name, pool: pool.name, seconds, steps });
          this.joined.add(id);
          this.o.log?.(`cloud nodes: ${id} joined ${pool.name} as ${spec.name} in ${seconds.toFixed(1)}s`);
        })
        .catch(async (err: unknown) => {
          this.o.log?.(`cloud nodes: ${id} failed to join ${pool.name}: ${String(err)}`);
          // A kubelet may have registered before the boot failed: no Node may stand for a dead instance.
          await this.remove(spec.name).catch(() => undefined);
        })
        .finally(() => this.booting.delete(id)),
    );
  }

  private async remove(name: string): Promise<void> {
    if (this.o.nodes.kind === "real" && this.real.has(name)) {
      await removeSpotNode(this.o.nodes.clusterDir, name);
      this.real.delete(name);
    }
    await this.o.kubectl(["delete", "node", name, "--wait=false", "--ignore-not-found"]);
  }
}

/** The node an instance becomes: as kwok's manifest, and as a real node's registration. */
export function nodeSpec(
  pool: CloudPool,
  instanceId: string,
  zone: string,
  kubeletVersion: string,
): { name: string; kwok: object; real: SpotNodeSpec } {
  const provider = pool.provider ?? "aws";
  const shape: NodePool = {
    name: pool.name,
    tier: "burst",
    provider,
    region: pool.region,
    instanceType: "emulated",
    count: 1,
    cpu: pool.cpu,
    memory: pool.memory,
    spot: true,
  };
  const m = nodeManifest(shape, 0, kubeletVersion);
  const name = `${pool.name}-${instanceId}`.toLowerCase();
  // As each cloud's controller sets it: aws:///zone/i-…, gce://project/zone/name.
  const providerID =
    provider === "gcp" ? `gce://${pool.project ?? ""}/${zone}/${instanceId}` : `aws:///${zone}/${instanceId}`;
  const taints = m.spec.taints.filter((t) => t.key !== KWOK_TAINT.key);
  // The kubelet sets the hostname label itself; `type=kwok` is kwok's.
  const labels = Object.fromEntries(
    Object.entries(m.metadata.labels).filter(([k]) => k !== "type" && k !== "kubernetes.io/hostname"),
  );
  return {
    name,
    // Without kwok's taint: the spot taint and the pool's affinity already keep every other pod off, and
    // a smoke run's burst replica, from a namespace that is not simulated, must be able to land here.
    kwok: {
      ...m,
      metadata: { ...m.metadata, name, labels: { ...m.metadata.labels, "kubernetes.io/hostname": name } },
      spec: { ...m.spec, taints, providerID },
    },
    real: {
      name,
      labels: { ...labels, "topology.kubernetes.io/zone": zone },
      taints: taints.map((t) => `${t.key}=${t.value}:${t.effect}`),
      providerID,
    },
  };
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
