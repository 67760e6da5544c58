import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { AutoScalingClient, DeleteAutoScalingGroupCommand } from "@aws-sdk/client-auto-scaling";
import { DeleteObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { stringify } from "yaml";
import type { BurstPoolSpec } from "../../api/burst-pool.js";
import { POOL_LABEL } from "../../api/labels.js";
import { SERVER_PORT } from "../../api/server.js";
import { AwsPoolDriver } from "../../operator/pools/aws.js";
import * as emulators from "../local-emulators.js";
import { kubectlFor, type Kubectl } from "../lib/kubectl.js";
import { CloudNodes, emulatedGroup } from "../local-cluster/cloud-nodes.js";
import * as cluster from "../local-cluster/cluster.js";
import { EMULATOR_REGION, POD_AWS_ENV, publishSampleModel } from "../local-cluster/sample-model.js";
import type { Cloud } from "./clouds.js";
import { poll, Steps, unreachable, type StepRecord } from "./steps.js";

/**
 * One smoke run: provision one spot node, wait until it has joined, serve a tiny InferenceModel, send one
 * chat completion and check the answer, and tear everything down (unless `keep`). `--cloud local` runs
 * these steps against the local cluster and the AWS emulator: the project's AWS driver scales an emulated
 * Auto Scaling group, and the test bed's stand-in for cloud-init joins its instance as a node.
 */

export interface SmokeOptions {
  cloud: Cloud;
  namespace: string;
  /** The pool's price, from the infra config: what a real run of this length would cost. */
  hourlyPriceUsd: number;
  nodeCapacity: { cpu: string; memory: string };
  log: (line: string) => void;
  timeouts?: Partial<typeof TIMEOUTS>;
}

const TIMEOUTS = { joinMs: 120_000, operatorMs: 30_000, readyMs: 240_000, chatMs: 60_000 };

export interface SmokeReport {
  cloud: Cloud;
  runId: string;
  result: "passed" | "failed";
  error: string | null;
  steps: StepRecord[];
  durationSeconds: number;
  pool: { group: string; region: string; hourlyPriceUsd: number };
  /** Node-hours the run held times the pool's price. */
  estimatedCostUsd: number;
  /** With --keep: what was left running, and the command that removes it. */
  kept: { resources: string[]; remove: string } | null;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

const readyOf = (conditions: Condition[] | undefined) => conditions?.find((c) => c.type === "Ready");

export type SmokeSummary = Omit<SmokeReport, "result" | "error" | "steps">;

/**
 * The local run; real clouds stop after their checks, in the command (README, The spillway command). `summary`
 * reads what the run has done so far, so a failed run reports its group and cost too.
 */
export function smokeLocal(o: SmokeOptions): {
  summary: () => SmokeSummary;
  run: (steps: Steps) => Promise<void>;
} {
  const t0 = performance.now();
  const timeouts = { ...TIMEOUTS, ...o.timeouts };
  const runId = randomBytes(3).toString("hex");
  const name = `smoke-${runId}`;
  const pool: BurstPoolSpec = {
    provider: "aws",
    region: EMULATOR_REGION,
    group: `spillway-smoke-${runId}`,
    nodeCapacity: o.nodeCapacity,
    minNodes: 0,
    maxNodes: 1,
    hourlyPriceUsd: o.hourlyPriceUsd,
  };
  let nodeJoinedAt: number | undefined;
  const summary = (): SmokeSummary => {
    const heldHours = nodeJoinedAt === undefined ? 0 : (performance.now() - nodeJoinedAt) / 3_600_000;
    return {
      cloud: o.cloud,
      runId,
      durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
      pool: { group: pool.group, region: pool.region, hourlyPriceUsd: pool.hourlyPriceUsd },
      estimatedCostUsd: Number((heldHours * pool.hourlyPriceUsd).toFixed(6)),
      kept: null,
    };
  };
  return { summary, run: (steps) => runLocal(steps) };

  async function runLocal(steps: Steps): Promise<void> {
    const kubeconfig = join(cluster.defaultStateDir(), "kubeconfig");
    await steps.step("preflight", async () => {
      if (!(await cluster.isRunning())) {
        throw unreachable("the local cluster is not running", "start it with `npm run cluster:up`");
      }
      if (!(await emulators.isRunning())) {
        throw unreachable(
          `the AWS emulator at ${emulators.AWS_ENDPOINT} is not running`,
          "start it with `npm run emulators:up`",
        );
      }
    });
    const kubectl = kubectlFor(kubeconfig);
    const aws = {
      endpoint: emulators.AWS_ENDPOINT,
      region: pool.region,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    };
    const autoscaling = new AutoScalingClient(aws);
    const driver = new AwsPoolDriver({ ...aws, timeoutMs: 10_000 });

    steps.onTeardown(`spot group ${pool.group}`, async () => {
      await autoscaling.send(
        new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: pool.group, ForceDelete: true }),
      );
    });
    await steps.step(
      "provision",
      async () => {
        await emulatedGroup({ endpoint: aws.endpoint, region: pool.region, name: pool.group, maxSize: 1 });
        await driver.setDesired(pool, 1);
      },
      () => `group ${pool.group} at desired 1`,
    );

    const version = (await kubectl.json<{ serverVersion: { gitVersion: string } }>(["version"])).serverVersion
      .gitVersion;
    const joiner = new CloudNodes({
      kubectl,
      autoscaling,
      kubeletVersion: version,
      pools: [
        {
          name,
          group: pool.group,
          region: pool.region,
          cpu: o.nodeCapacity.cpu,
          memory: o.nodeCapacity.memory,
        },
      ],
    });
    steps.onTeardown(`nodes of ${name}`, () =>
      kubectl(["delete", "node", "-l", `${POOL_LABEL}=${name}`, "--ignore-not-found", "--wait=false"]),
    );
    steps.onTeardown("node stand-in", () => joiner.stop());
    joiner.start(500);
    await steps.step(
      "join",
      () =>
        poll(
          () => readyNode(kubectl, name),
          timeouts.joinMs,
          () => new Error(`no node of group ${pool.group} was Ready within ${timeouts.joinMs / 1000} s`),
        ),
      (n) => `node ${n}`,
    );
    nodeJoinedAt = performance.now();

    const bucket = "spillway-smoke";
    const key = `${runId}/tiny.gguf`;
    steps.onTeardown(`model file s3://${bucket}/${key}`, () =>
      new S3Client({ ...aws, forcePathStyle: true }).send(
        new DeleteObjectCommand({ Bucket: bucket, Key: key }),
      ),
    );
    const model = await publishSampleModel({ bucket, key });
    steps.onTeardown(`InferenceModel ${o.namespace}/${name}`, () =>
      kubectl([
        "delete",
        "im",
        name,
        "-n",
        o.namespace,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
      ]),
    );
    await steps.step(
      "model ready",
      async () => {
        await kubectl(["apply", "-f", "-"], stringify(inferenceModel(name, o.namespace, model)));
        // A model nobody reconciles never gets a status: that is a missing operator, not a failed model.
        await poll(
          async () => ((await status(kubectl, o.namespace, name)).length ? true : undefined),
          timeouts.operatorMs,
          () =>
            unreachable(
              `no operator reconciled InferenceModel ${o.namespace}/${name} within ${timeouts.operatorMs / 1000} s`,
              `install the chart watching namespace ${o.namespace} (npm run demo does, for default)`,
            ),
        );
        await poll(
          async () =>
            readyOf(await status(kubectl, o.namespace, name))?.status === "True" ? true : undefined,
          timeouts.readyMs,
          async () => {
            const ready = readyOf(await status(kubectl, o.namespace, name).catch(() => []));
            return new Error(
              `not Ready within ${timeouts.readyMs / 1000} s: ${ready?.reason ?? "?"}: ${ready?.message ?? ""}`,
            );
          },
        );
      },
      () => model.uri,
    );

    await steps.step(
      "chat completion",
      async () => {
        const ip = (
          await kubectl(["get", "svc", name, "-n", o.namespace, "-o", "jsonpath={.spec.clusterIP}"])
        ).trim();
        const deadline = Date.now() + timeouts.chatMs;
        const send = () =>
          fetch(`http://${ip}:${SERVER_PORT}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              model: name,
              messages: [{ role: "user", content: "Say hello." }],
              max_tokens: 8,
            }),
            signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
          });
        let res: Response;
        for (;;) {
          try {
            res = await send();
            break;
          } catch (err) {
            // A Ready pod can precede the Service's forwarding rules (kube-proxy programs them after the
            // endpoint turns ready): a refused connection is retried until the step's deadline; an HTTP
            // answer, or the deadline, is final.
            if (!(err instanceof TypeError) || Date.now() + 500 >= deadline) throw err;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        const body = (await res.json()) as {
          choices?: { message?: { content?: string } }[];
          usage?: { completion_tokens?: number };
        };
        const text = body.choices?.[0]?.message?.content;
        if (res.status !== 200 || !text || !body.usage?.completion_tokens) {
          throw new Error(`unexpected answer ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
        }
        return `${body.usage.completion_tokens} tokens`;
      },
      (d) => d,
    );
  }
}

async function readyNode(kubectl: Kubectl, pool: string): Promise<string | undefined> {
  const nodes = await kubectl.json<{
    items: { metadata: { name: string }; status?: { conditions?: Condition[] } }[];
  }>(["get", "nodes", "-l", `${POOL_LABEL}=${pool}`]);
  return nodes.items.find((n) => readyOf(n.status?.conditions)?.status === "True")?.metadata.name;
}

async function status(kubectl: Kubectl, ns: string, name: string): Promise<Condition[]> {
  const im = await kubectl.json<{ status?: { conditions?: Condition[] } }>(["get", "im", name, "-n", ns]);
  return im.status?.conditions ?? [];
}

function inferenceModel(name: string, namespace: string, model: { uri: string; sha256: string }) {
  return {
    apiVersion: "spillway.dev/v1alpha1",
    kind: "InferenceModel",
    metadata: { name, namespace, labels: { "spillway.dev/smoke": "true" } },
    spec: {
      model: { uri: model.uri, sha256: model.sha256, contextSize: 512 },
      server: {
        parallel: 1,
        threads: 1,
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
        env: POD_AWS_ENV,
      },
      replicas: { base: { min: 1, max: 1 } },
    },
  };
}
