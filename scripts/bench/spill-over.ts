/**
 * npm run bench:spill-over [-- --runs 3 --json FILE]
 *
 * The spill-over on real spot nodes (the local cluster with its real node and the AWS emulator, started
 * unless running): from a load step through the model's Service to the first request a burst replica
 * answers, split into the operator's reaction (group raised), the node's boot (Ready), the pod scheduled,
 * the model fetched from the emulated bucket, the server Ready and its first answer; and, after the load,
 * the drain until the node is gone. Against a floor in the same run: the same node and pod brought up by
 * hand (the group raised and a copy of the burst Deployment applied at one moment, a request sent as soon
 * as the pod is Ready), with nobody deciding anything, under the same load (which only the base serves then). Medians of `--runs`; every node boots from the baked
 * image (made once before the runs, as an AMI build would be).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
} from "@aws-sdk/client-auto-scaling";
import { stringify } from "yaml";
import { writeReport } from "../../src/lib/bench-ratios.js";
import { applyCrds, kubectlFor, type Kubectl } from "../../src/lib/kubectl.js";
import { median } from "../../src/lib/stats.js";
import * as cluster from "../../testbed/cluster/cluster.js";
import { CloudNodes, emulatedGroup, type CloudPool } from "../../testbed/cluster/cloud-nodes.js";
import { PAUSE_IMAGE } from "../../testbed/cluster/node-config.js";
import { bakedRoot } from "../../testbed/cluster/node-image.js";
import { unavailableReason } from "../../testbed/cluster/real-node.js";
import { POD_AWS_ENV, publishSampleModel } from "../../testbed/cluster/sample-model.js";
import * as emulators from "../../testbed/emulators.js";
import { completionsAnswered } from "../../testbed/lib/http.js";
import { currentInferenceImage } from "../../testbed/lib/podman.js";
import { startOperator } from "../../tests/helpers/operator.js";
import { spawnTs } from "../../tests/helpers/process.js";
import { waitFor } from "../../tests/helpers/wait.js";

const { values: args } = parseArgs({
  options: { runs: { type: "string", default: "3" }, json: { type: "string" } },
});
const RUNS = Number(args.runs);
const region = "eu-central-1";
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

/** Milliseconds from the step's start to each milestone. */
interface Milestones {
  raised: number;
  nodeReady: number;
  scheduled: number;
  fetched: number;
  serverReady: number;
  answered: number;
}
const STEPS: [keyof Milestones, string][] = [
  ["raised", "group raised"],
  ["nodeReady", "node Ready"],
  ["scheduled", "pod scheduled"],
  ["fetched", "model fetched"],
  ["serverReady", "server Ready"],
  ["answered", "first answer"],
];

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}
const isReady = (p: Pod) =>
  p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/**
 * Polls every 100 ms from `t0` until a pod matching `selector` has answered; each milestone is the first
 * poll that sees it, except the model's fetch, which the server's own log line dates (same clock).
 */
async function follow(o: {
  kubectl: Kubectl;
  ns: string;
  selector: string;
  pool: string;
  desired: () => Promise<number>;
  t0: number;
  /** The floor asks the pod itself; with the operator, the load through the Service does. */
  ask?: (ip: string) => Promise<void>;
}): Promise<Milestones> {
  const m: Partial<Milestones> = {};
  const at = (key: keyof Milestones) => (m[key] ??= Date.now() - o.t0);
  let pod: Pod | undefined;
  await waitFor(
    "the burst pod's first answer",
    async () => {
      if (m.raised === undefined && (await o.desired()) >= 1) at("raised");
      if (m.nodeReady === undefined) {
        const nodes = await o.kubectl.json<{ items: Pod[] }>([
          "get",
          "nodes",
          "-l",
          `spillway.dev/pool=${o.pool}`,
        ]);
        if (nodes.items.some(isReady)) at("nodeReady");
      }
      pod = (await o.kubectl.json<{ items: Pod[] }>(["get", "pods", "-n", o.ns, "-l", o.selector])).items[0];
      if (!pod) return false;
      if (pod.spec.nodeName) at("scheduled");
      if (!isReady(pod) || !pod.status.podIP) return false;
      at("serverReady");
      if (o.ask) await o.ask(pod.status.podIP);
      if ((await completionsAnswered(`http://${pod.status.podIP}:8080`).catch(() => 0)) === 0) return false;
      at("answered");
      return true;
    },
    { timeoutMs: 180_000, intervalMs: 100 },
  );
  const logs = await o.kubectl(["logs", pod!.metadata.name, "-n", o.ns]);
  const fetched = logs
    .split("\n")
    .map((l) => {
      try {
        return JSON.parse(l) as { msg?: string; time?: number };
      } catch {
        return {};
      }
    })
    .find((l) => l.msg === "model downloaded");
  m.fetched = fetched?.time ? fetched.time - o.t0 : NaN;
  return m as Milestones;
}

/** `spillway load` through the model's Service, above the base's one slot, until stopped. */
function loadStep(ip: string, report: string) {
  return spawnTs(
    "testbed/main.ts",
    [
      "load",
      "--url",
      `http://${ip}:8080`,
      "--model",
      "chat",
      "--users",
      "4",
      "--ramp",
      "0",
      "--duration",
      "120",
    ].concat(["--think-ms", "50", "--max-tokens", "32", "--json", report, "--allow-remote"]),
    {},
  );
}

async function main() {
  const bed = await cluster.up({ log });
  const noNode = unavailableReason(cluster.defaultStateDir());
  if (noNode) throw new Error(`bench:spill-over needs the local cluster's real node: ${noNode}`);
  await emulators.up(log);
  const kubectl = kubectlFor(bed.kubeconfig);
  const endpoint = emulators.AWS_ENDPOINT;
  const autoscaling = new AutoScalingClient({
    endpoint,
    region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const desiredOf = async (asg: string) =>
    (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [asg] })))
      .AutoScalingGroups?.[0]?.DesiredCapacity ?? 0;
  const poolNodes = async (pool: string) =>
    (await kubectl.json<{ items: unknown[] }>(["get", "nodes", "-l", `spillway.dev/pool=${pool}`])).items
      .length;
  const images = [PAUSE_IMAGE, currentInferenceImage()];
  await bakedRoot(images);

  const run = randomBytes(3).toString("hex");
  const ns = `bench-spill-${run}`;
  await applyCrds(kubectl);
  await kubectl(["create", "namespace", ns]);
  const version = (await kubectl.json<{ serverVersion: { gitVersion: string } }>(["version"])).serverVersion
    .gitVersion;
  const pools: CloudPool[] = [];
  const nodes = new CloudNodes({
    kubectl,
    autoscaling,
    pools,
    kubeletVersion: version,
    nodes: {
      kind: "real",
      clusterDir: cluster.defaultStateDir(),
      apiserverPort: cluster.PORTS.apiserver,
      images,
      baked: true,
      maxNodes: 2,
    },
  });
  nodes.start(200);
  const operator = await startOperator({
    kubeconfig: bed.kubeconfig,
    identity: `bench-${run}`,
    leaseNamespace: ns,
    config: {
      namespaces: [ns],
      logLevel: "warn",
      load: { intervalSeconds: 1 },
      pools: {
        selector: `spillway.dev/bench=${run}`,
        intervalSeconds: 1,
        emptyNodeCooldownSeconds: 2,
        aws: { endpoint },
        gcp: { enabled: false },
      },
    },
    env: { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_REGION: region },
  });
  const dir = mkdtempSync(join(tmpdir(), "spillway-bench-spill-"));
  const model = await publishSampleModel({ bucket: "spillway-models", key: `${ns}.gguf` });
  const applyModel = (pool: string) =>
    kubectl(
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
          replicas: { base: { min: 1, max: 1 }, burst: { max: 1, pools: [pool] } },
          autoscaling: { metric: "inFlight", target: 1, scaleDownStabilizationSeconds: 4 },
        },
      }),
    );

  const results: { floor: Milestones; operator: Milestones; drainMs: number }[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const floorPool = `floor-${run}-${r}`;
      const pool = `bench-${run}-${r}`;
      for (const name of [floorPool, pool]) {
        await emulatedGroup({ endpoint, region, name: `${name}-asg`, maxSize: 2 });
        pools.push({ name, group: `${name}-asg`, region, cpu: "1", memory: "4Gi" });
      }
      await applyModel(pool);
      await waitFor(
        "the base replica Ready",
        async () => {
          const im = await kubectl.json<{ status?: { replicas?: { base: { ready: number } } } }>([
            "get",
            "im",
            "chat",
            "-n",
            ns,
          ]);
          return im.status?.replicas?.base.ready === 1;
        },
        { timeoutMs: 120_000 },
      );

      // The floor: the operator's burst Deployment, copied onto a pool the operator does not know (no
      // BurstPool), with the group raised by hand at the same moment.
      const burst = await kubectl.json<{
        spec: { template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> } };
      }>(["get", "deploy", "chat-burst", "-n", ns]);
      const template = structuredClone(burst.spec.template);
      template.metadata.labels = { floor: String(r) };
      const affinity = JSON.stringify(template.spec.affinity ?? {}).replaceAll(`"${pool}"`, `"${floorPool}"`);
      template.spec.affinity = JSON.parse(affinity) as unknown;
      const floorDeploy = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: `floor-${r}`, namespace: ns },
        spec: { replicas: 1, selector: { matchLabels: { floor: String(r) } }, template },
      };
      // The same load as the operator's run, through the Service to the base only: both paths boot and
      // serve on a machine equally busy.
      const ip = (await kubectl(["get", "svc", "chat", "-n", ns, "-o", "jsonpath={.spec.clusterIP}"])).trim();
      const floorLoad = loadStep(ip, join(dir, `floor-load-${r}.json`));
      let t0 = Date.now();
      await Promise.all([
        kubectl(["apply", "-f", "-"], JSON.stringify(floorDeploy)),
        autoscaling.send(
          new SetDesiredCapacityCommand({ AutoScalingGroupName: `${floorPool}-asg`, DesiredCapacity: 1 }),
        ),
      ]);
      const floor = await follow({
        kubectl,
        ns,
        selector: `floor=${r}`,
        pool: floorPool,
        desired: () => desiredOf(`${floorPool}-asg`),
        t0,
        ask: async (ip) => {
          await fetch(`http://${ip}:8080/v1/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "chat", prompt: "hello", max_tokens: 8 }),
          }).catch(() => undefined);
        },
      });
      floorLoad.child.kill("SIGINT");
      await floorLoad.exit;
      await kubectl(["delete", "deploy", `floor-${r}`, "-n", ns]);
      await autoscaling.send(
        new SetDesiredCapacityCommand({ AutoScalingGroupName: `${floorPool}-asg`, DesiredCapacity: 0 }),
      );
      await waitFor("the floor's node gone", async () => (await poolNodes(floorPool)) === 0, {
        timeoutMs: 60_000,
      });

      // With the operator: a load step through the model's Service, above the base's one slot.
      await kubectl(
        ["apply", "-f", "-"],
        stringify({
          apiVersion: "spillway.dev/v1alpha1",
          kind: "BurstPool",
          metadata: { name: pool, labels: { "spillway.dev/bench": run } },
          spec: {
            provider: "aws",
            region,
            group: `${pool}-asg`,
            nodeCapacity: { cpu: 1, memory: "4Gi" },
            maxNodes: 1,
            hourlyPriceUsd: 0.1,
          },
        }),
      );
      t0 = Date.now();
      const load = loadStep(ip, join(dir, `load-${r}.json`));
      const operatorRun = await follow({
        kubectl,
        ns,
        selector: "spillway.dev/model=chat,spillway.dev/tier=burst",
        pool,
        desired: () => desiredOf(`${pool}-asg`),
        t0,
      });
      load.child.kill("SIGINT");
      await load.exit;
      t0 = Date.now();
      await waitFor(
        "the spot node gone",
        async () => (await poolNodes(pool)) === 0 && (await desiredOf(`${pool}-asg`)) === 0,
        {
          timeoutMs: 120_000,
          intervalMs: 100,
        },
      );
      const drainMs = Date.now() - t0;
      results.push({ floor, operator: operatorRun, drainMs });
      log(
        `run ${r + 1}: floor ${JSON.stringify(floor)}; operator ${JSON.stringify(operatorRun)}; drain ${drainMs} ms`,
      );
      await kubectl(["delete", "burstpool", pool]);
    }
  } finally {
    await operator.kill();
    await nodes.stop();
    await kubectl(["delete", "burstpools", "-l", `spillway.dev/bench=${run}`]).catch(() => undefined);
    await kubectl(["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
  }

  const med = (f: (x: (typeof results)[number]) => number) => Math.round(median(results.map(f)));
  const split = (key: "floor" | "operator") =>
    STEPS.map(([step], i) => {
      const prev = i === 0 ? 0 : med((x) => x[key][STEPS[i - 1]![0]]);
      return med((x) => x[key][step]) - prev;
    });
  const floorSplit = split("floor");
  const opSplit = split("operator");
  const floorTotal = med((x) => x.floor.answered);
  const opTotal = med((x) => x.operator.answered);
  const lines = [
    `${RUNS} runs, medians; local control plane with its real node + AWS emulator; ${readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "?"}; load sampled every 1 s, pools every 1 s, scale-down window 4 s, empty-node cooldown 2 s`,
    "",
    "| step (ms, median of each cumulative milestone, differenced) | floor (by hand) | operator |",
    "| --- | --- | --- |",
    ...STEPS.map(([, label], i) => `| ${label} | ${floorSplit[i]} | ${opSplit[i]} |`),
    `| **load step → first answer from the burst replica** | **${floorTotal}** | **${opTotal}** |`,
    `| ratio operator ÷ floor | | ${(opTotal / floorTotal).toFixed(2)} |`,
    `| load end → spot node gone, group at 0 | | ${med((x) => x.drainMs)} |`,
    "",
    `runs: ${results.map((x) => `${x.floor.answered}/${x.operator.answered}`).join(", ")} (floor/operator ms)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  writeReport(args.json, {
    "load step → first burst answer, operator ÷ floor": { value: opTotal / floorTotal, better: "lower" },
  });
}

await main();
