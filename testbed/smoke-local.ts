import { AutoScalingClient, DeleteAutoScalingGroupCommand } from "@aws-sdk/client-auto-scaling";
import { DeleteObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { join } from "node:path";
import { stringify } from "yaml";
import type { InfraConfig } from "../infra/config/schema.js";
import type { BurstPoolSpec } from "../src/api/burst-pool.js";
import { API_VERSION } from "../src/api/common.js";
import { AwsPoolDriver } from "../src/operator/pools/aws.js";
import { kubectlFor } from "../src/lib/kubectl.js";
import { unreachable } from "../src/cli/smoke/steps.js";
import { MODEL_KEY, type Target, type Timeouts } from "../src/cli/smoke/targets.js";
import { CloudNodes, emulatedGroup } from "./cluster/cloud-nodes.js";
import * as cluster from "./cluster/cluster.js";
import { PAUSE_IMAGE } from "./cluster/node-config.js";
import * as realNode from "./cluster/real-node.js";
import { currentInferenceImage } from "./lib/podman.js";
import { EMULATOR_REGION, POD_AWS_ENV, publishSampleModel } from "./cluster/sample-model.js";
import * as emulators from "./emulators.js";

/**
 * `spillway smoke --cloud local`: the local cluster and the AWS emulator, with a pool of the run's own over
 * an emulated Auto Scaling group, whose instances the test bed's stand-in for cloud-init boots as real spot
 * nodes: the smoke replica runs there and answers the chat completion.
 */

const LOCAL_TIMEOUTS: Timeouts = {
  operatorMs: 30_000,
  nodeMs: 120_000,
  readyMs: 240_000,
  chatMs: 60_000,
  drainMs: 300_000,
};

/** The local cluster and the AWS emulator; a pool of the run's own, removed again at the end. */
export function localTarget(infra: InfraConfig): Target {
  const aws = {
    endpoint: emulators.AWS_ENDPOINT,
    region: EMULATOR_REGION,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  };
  const kubeconfig = join(cluster.defaultStateDir(), "kubeconfig");
  const kubectl = kubectlFor(kubeconfig);
  return {
    kubeconfig,
    kubectl,
    driver: new AwsPoolDriver({ ...aws, timeoutMs: 10_000 }),
    timeouts: LOCAL_TIMEOUTS,
    serverEnv: POD_AWS_ENV,
    async preflight() {
      if (!(await cluster.isRunning()))
        throw unreachable("the local cluster is not running", "start it with `npm run cluster:up`");
      if (!(await emulators.isRunning()))
        throw unreachable(
          `the AWS emulator at ${emulators.AWS_ENDPOINT} is not running`,
          "start it with `npm run emulators:up`",
        );
      // The smoke replica runs on a real spot node, which hangs off the base node's bridge.
      const noNode = realNode.unavailableReason(cluster.defaultStateDir());
      if (noNode)
        throw unreachable(
          `the local cluster's real node is not running: ${noNode}`,
          "npm run cluster:down && npm run cluster:up",
        );
      return "local cluster (with its real node) and AWS emulator up";
    },
    async pool(steps, runId) {
      const name = `smoke-${runId}`;
      const spec: BurstPoolSpec = {
        provider: "aws",
        region: aws.region,
        group: `spillway-smoke-${runId}`,
        nodeCapacity: {
          cpu: String(infra.aws.nodeCapacity.cpu),
          memory: String(infra.aws.nodeCapacity.memory),
        },
        minNodes: 0,
        maxNodes: 1,
        hourlyPriceUsd: infra.aws.hourlyPriceUsd,
      };
      const autoscaling = new AutoScalingClient(aws);
      steps.onTeardown(`spot group ${spec.group}`, () =>
        autoscaling.send(
          new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: spec.group, ForceDelete: true }),
        ),
      );
      await emulatedGroup({ endpoint: aws.endpoint, region: aws.region, name: spec.group, maxSize: 1 });
      steps.onTeardown(`BurstPool ${name}`, () =>
        kubectl(["delete", "burstpool", name, "--ignore-not-found"]),
      );
      await kubectl(
        ["apply", "-f", "-"],
        stringify({
          apiVersion: API_VERSION,
          kind: "BurstPool",
          metadata: { name, labels: { "spillway.dev/smoke": "true" } },
          spec,
        }),
      );
      const version = (await kubectl.json<{ serverVersion: { gitVersion: string } }>(["version"]))
        .serverVersion.gitVersion;
      const joiner = new CloudNodes({
        kubectl,
        autoscaling,
        kubeletVersion: version,
        nodes: {
          kind: "real",
          clusterDir: cluster.defaultStateDir(),
          apiserverPort: cluster.PORTS.apiserver,
          images: [PAUSE_IMAGE, currentInferenceImage()],
          baked: true,
        },
        log: (line) => process.stderr.write(`[smoke] ${line}\n`),
        pools: [
          {
            name,
            group: spec.group,
            region: spec.region,
            cpu: String(spec.nodeCapacity.cpu),
            memory: String(spec.nodeCapacity.memory),
          },
        ],
      });
      steps.onTeardown("node stand-in", () => joiner.stop());
      joiner.start(500);
      return { name, spec };
    },
    async publish(steps, runId) {
      const bucket = "spillway-smoke";
      const key = MODEL_KEY(runId);
      steps.onTeardown(`model file s3://${bucket}/${key}`, () =>
        new S3Client({ ...aws, forcePathStyle: true }).send(
          new DeleteObjectCommand({ Bucket: bucket, Key: key }),
        ),
      );
      return publishSampleModel({ bucket, key });
    },
  };
}
