import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling";
import type { BurstPoolSpec } from "../../src/api/burst-pool.js";
import { UserError } from "../../src/lib/errors.js";
import { kubectlFor } from "../../src/lib/kubectl.js";
import { repoRoot } from "../../src/lib/paths.js";
import { AWS_ENDPOINT, isRunning as emulatorsRunning } from "../emulators.js";
import { currentInferenceImage } from "../lib/podman.js";
import { isAlive, readPid, startDetached } from "../lib/process.js";
import { CloudNodes, emulatedGroup, type CloudPool } from "./cloud-nodes.js";
import { PORTS } from "./cluster.js";
import { PAUSE_IMAGE } from "./node-config.js";

/**
 * The test bed's cloud for a running cluster, as a process beside it (`spillway cluster spot-nodes up`):
 * every aws BurstPool labelled `spillway.dev/test-bed-nodes=real` gets its group in the AWS emulator,
 * and each in-service instance of that group boots as a real spot node (cloud-nodes.ts), whatever
 * operator sizes the group — the chart's, in the demo. `cluster down` stops it first, and its nodes with it.
 * The test tiers run their own CloudNodes for their own pools instead, so the two never share a pool.
 */
export const AGENT = "spot-nodes";
export const AGENT_LABEL = "spillway.dev/test-bed-nodes";

/** Starts the agent beside the cluster unless it runs; returns its pid. */
export async function startAgent(stateDir: string): Promise<number> {
  const running = readPid(stateDir, AGENT);
  if (running !== undefined && isAlive(running)) return running;
  if (!(await emulatorsRunning())) {
    throw new UserError("the AWS emulator is not running", "run `npm run emulators:up` first", 3);
  }
  return startDetached(stateDir, {
    name: AGENT,
    bin: process.execPath,
    // The loader by its path: Node resolves a bare "tsx" from the working directory, which may be elsewhere.
    args: [
      "--import",
      import.meta.resolve("tsx"),
      `${repoRoot}/testbed/main.ts`,
      "cluster",
      "spot-nodes",
      "run",
    ],
    ports: [],
  });
}

/** The agent itself, in the foreground until SIGTERM or SIGINT; its real nodes go with it. */
export async function runAgent(stateDir: string, log: (line: string) => void): Promise<void> {
  const kubectl = kubectlFor(join(stateDir, "kubeconfig"));
  const region = "eu-central-1";
  const aws = {
    endpoint: AWS_ENDPOINT,
    region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  };
  const autoscaling = new AutoScalingClient(aws);
  const pools: CloudPool[] = [];
  const version = (await kubectl.json<{ serverVersion: { gitVersion: string } }>(["version"])).serverVersion
    .gitVersion;
  const nodes = new CloudNodes({
    kubectl,
    autoscaling,
    pools,
    kubeletVersion: version,
    nodes: {
      kind: "real",
      clusterDir: stateDir,
      apiserverPort: PORTS.apiserver,
      images: [PAUSE_IMAGE, currentInferenceImage()],
      baked: true,
    },
    log,
  });
  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const)
    process.once(signal, () => {
      stop.abort();
    });
  nodes.start();
  log(`following aws BurstPools labelled ${AGENT_LABEL}=real`);
  while (!stop.signal.aborted) {
    try {
      const listed = await kubectl.json<{ items: { metadata: { name: string }; spec: BurstPoolSpec }[] }>([
        "get",
        "burstpools",
        "-l",
        `${AGENT_LABEL}=real`,
      ]);
      for (const p of listed.items) {
        if (p.spec.provider !== "aws" || pools.some((q) => q.name === p.metadata.name)) continue;
        if (p.spec.region !== region) {
          log(`${p.metadata.name}: region ${p.spec.region} is not the emulator's ${region}; skipped`);
          continue;
        }
        const known = await autoscaling.send(
          new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [p.spec.group] }),
        );
        if (!known.AutoScalingGroups?.length)
          await emulatedGroup({
            endpoint: AWS_ENDPOINT,
            region,
            name: p.spec.group,
            maxSize: p.spec.maxNodes,
          });
        pools.push({
          name: p.metadata.name,
          group: p.spec.group,
          region,
          cpu: String(p.spec.nodeCapacity.cpu),
          memory: String(p.spec.nodeCapacity.memory),
        });
        log(`${p.metadata.name}: group ${p.spec.group} followed`);
      }
    } catch (err) {
      log(`listing BurstPools: ${String(err)}`);
    }
    await sleep(2000, undefined, { signal: stop.signal }).catch(() => undefined);
  }
  await nodes.stop();
  log("stopped; its nodes are removed");
}
