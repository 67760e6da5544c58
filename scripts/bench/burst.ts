/**
 * npm run bench:burst [-- --runs 3 --models 1000]
 *
 * The operator's spill-over reaction time on the local control plane and the AWS emulator (both started
 * unless running), with simulated (kwok) spot nodes and stand-in servers: what the operator and the control
 * plane take, not what a real node takes to boot and serve. Median of several runs:
 *   - baseline: the test bed's own floor. A burst Deployment is scaled to 2 by hand and the group's
 *     desired capacity set to 1 at the same moment; time until both pods are Ready on the new node.
 *   - with the operator: 8 clients start on the base pod's server (a real Spillway server standing in
 *     for it); time until 2 burst replicas are Ready on a node the operator asked the group for; then,
 *     from the end of the load, time until the node is gone (4 s scale-down window, 2 s empty-node
 *     cooldown, as configured below).
 * And the decisions: how many model decisions (autoscaler, planner, diff, status) per second for 1000
 * models, and one pool decision over 1000 pending pods in 10 pools.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
} from "@aws-sdk/client-auto-scaling";
import { stringify } from "yaml";
import type { BurstPoolSpec } from "../../src/api/burst-pool.js";
import { writeReport } from "../../src/lib/bench-ratios.js";
import { median } from "../../src/lib/stats.js";
import * as emulators from "../../testbed/emulators.js";
import { applyCrds, kubectlFor } from "../../src/lib/kubectl.js";
import { simulatedNamespace } from "../../testbed/cluster/topology.js";
import * as cluster from "../../testbed/cluster/cluster.js";
import { CloudNodes, emulatedGroup, type CloudPool } from "../../testbed/cluster/cloud-nodes.js";
import { decideModel } from "../../src/operator/decide.js";
import { decidePools, type PendingPod, type PoolInput } from "../../src/operator/pools/decide.js";
import {
  inferenceModel,
  withAutoscaling,
  withBase,
  withBurst,
} from "../../tests/helpers/inference-models.js";
import { startOperator } from "../../tests/helpers/operator.js";
import { podStandIns, steadyLoad } from "../../tests/helpers/stand-ins.js";
import { waitFor } from "../../tests/helpers/wait.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    models: { type: "string", default: "1000" },
    // The report with its ratios, for the regression gate (scripts/bench/gate.ts).
    json: { type: "string" },
  },
});
const RUNS = Number(args.runs);
const MODELS = Number(args.models);
const region = "eu-central-1";
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

function decisions() {
  const pool: BurstPoolSpec = {
    provider: "aws",
    region,
    group: "g",
    nodeCapacity: { cpu: 8, memory: "32Gi" },
    minNodes: 0,
    maxNodes: 1000,
    hourlyPriceUsd: 0.2,
  };
  const pools = new Map([["spot-aws", pool]]);
  const config = { defaultImage: "img", drainGraceSeconds: 30, modelCacheSize: "20Gi" };
  const models = Array.from({ length: MODELS }, (_, i) =>
    inferenceModel(`m${i}`, withBase(1, 2), withBurst(4), withAutoscaling({ target: 4 })),
  );
  const base = { replicas: 1, readyReplicas: 1, updatedReplicas: 1, upToDate: true };
  const rates: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    for (const [i, model] of models.entries())
      decideModel(
        {
          model,
          observed: { base },
          current: { base: 1, burst: 0 },
          cached: () => undefined,
          load: [{ pod: "p", readable: true, busySlots: 4, queueDepth: i % 13, tokensPerSecond: 0 }],
          history: [],
          pools,
          now: Date.now(),
        },
        config,
      );
    rates.push(MODELS / ((performance.now() - t) / 1000));
  }
  const inputs: PoolInput[] = Array.from({ length: 10 }, (_, i) => ({
    name: `p${i}`,
    spec: pool,
    group: { desired: 0, instances: [] },
    nodes: [],
    memory: { firstSeen: new Map(), emptySince: new Map(), interrupted: new Map() },
  }));
  const pending: PendingPod[] = Array.from({ length: 1000 }, (_, i) => ({
    key: `ns/p${i}`,
    pools: [`p${i % 10}`, `p${(i + 1) % 10}`],
    cpu: 1,
    memory: 2 ** 30,
  }));
  const poolTimes: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    decidePools(
      inputs,
      pending,
      {
        joinTimeoutMs: 1,
        backoffMs: 1,
        emptyNodeCooldownMs: 1,
        interruptionsToBackoff: 3,
        forceDrainAfterMs: 1,
      },
      0,
    );
    poolTimes.push(performance.now() - t);
  }
  return { modelDecisionsPerSecond: median(rates), poolDecisionMs: median(poolTimes) };
}

async function main() {
  const pure = decisions();
  log(
    `model decisions: ${pure.modelDecisionsPerSecond.toFixed(0)}/s; a pool decision over 1000 pending pods: ${pure.poolDecisionMs.toFixed(1)} ms`,
  );

  const clusterWasUp = await cluster.isRunning();
  const emulatorsWereUp = await emulators.isRunning();
  // kwok only: the real node (and kube-proxy syncing every Service) would be noise in the numbers.
  const bed = await cluster.up({ log, realNode: false });
  await emulators.up(log);
  const kubectl = kubectlFor(bed.kubeconfig);
  const endpoint = emulators.AWS_ENDPOINT;
  const autoscaling = new AutoScalingClient({
    endpoint,
    region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const desiredOf = async (name: string) =>
    (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })))
      .AutoScalingGroups?.[0]?.DesiredCapacity;
  const run = randomBytes(3).toString("hex");
  const ns = `bench-burst-${run}`;
  await applyCrds(kubectl);
  await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace(ns)));
  const version = (
    JSON.parse(await kubectl(["version", "-o", "json"])) as { serverVersion: { gitVersion: string } }
  ).serverVersion.gitVersion;
  const cloudPools: CloudPool[] = [];
  // Simulated nodes: this measures the operator's reaction and the control plane's floor, not a serving
  // burst pod (npm run bench:spot-node times a real spot node's boot).
  const nodes = new CloudNodes({
    kubectl,
    autoscaling,
    pools: cloudPools,
    kubeletVersion: version,
    nodes: { kind: "kwok" },
  });
  nodes.start();
  const standIns = await podStandIns({ kubectl, namespace: ns, model: "chat", parallel: 2 });
  const operator = await startOperator({
    kubeconfig: bed.kubeconfig,
    identity: `bench-${run}`,
    leaseNamespace: ns,
    config: {
      namespaces: [ns],
      logLevel: "warn",
      load: { intervalSeconds: 1, metricsUrl: standIns.metricsUrl },
      pools: {
        selector: `spillway.dev/bench=${run}`,
        intervalSeconds: 1,
        emptyNodeCooldownSeconds: 2,
        aws: { endpoint },
        gcp: { enabled: false },
      },
    },
  });
  const poolNodes = async (pool: string) =>
    (await kubectl.json<{ items: unknown[] }>(["get", "nodes", "-l", `spillway.dev/pool=${pool}`])).items
      .length;
  const results: { baseline: number; react: number; release: number }[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const pool = `bench-${run}-${r}`;
      const asg = `${pool}-asg`;
      await emulatedGroup({ endpoint, region, name: asg, maxSize: 4 });
      cloudPools.push({ name: pool, group: asg, region, cpu: "2", memory: "8Gi" });
      const labels = {
        "spillway.dev/tier": "burst",
        "spillway.dev/provider": "aws",
        "spillway.dev/pool": pool,
      };

      // Baseline: the bed's floor, with nobody deciding anything.
      const deployment = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: `floor-${r}`, namespace: ns },
        spec: {
          replicas: 2,
          selector: { matchLabels: { floor: String(r) } },
          template: {
            metadata: { labels: { floor: String(r) } },
            spec: {
              nodeSelector: labels,
              tolerations: [
                { key: "spillway.dev/spot", operator: "Equal", value: "true", effect: "NoSchedule" },
              ],
              containers: [
                { name: "c", image: "none", resources: { requests: { cpu: "1", memory: "1Gi" } } },
              ],
            },
          },
        },
      };
      let t0 = Date.now();
      await Promise.all([
        kubectl(["apply", "-f", "-"], JSON.stringify(deployment)),
        autoscaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: asg, DesiredCapacity: 1 })),
      ]);
      await waitFor(
        "floor pods Ready",
        async () => {
          const d = await kubectl.json<{ status: { readyReplicas?: number } }>([
            "get",
            "deploy",
            `floor-${r}`,
            "-n",
            ns,
          ]);
          return d.status.readyReplicas === 2;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      const baseline = Date.now() - t0;
      await kubectl(["delete", "deploy", `floor-${r}`, "-n", ns]);

      // With the operator: the pool's node is reused by the operator's pods (it is empty now), so release
      // it first: the measured run starts from a group at 0.
      await kubectl(
        ["apply", "-f", "-"],
        stringify({
          apiVersion: "spillway.dev/v1alpha1",
          kind: "BurstPool",
          metadata: { name: pool, labels: { "spillway.dev/bench": run } },
          spec: {
            provider: "aws",
            region,
            group: asg,
            nodeCapacity: { cpu: 2, memory: "8Gi" },
            maxNodes: 4,
            hourlyPriceUsd: 0.1,
          },
        }),
      );
      await waitFor(
        "the floor's node released",
        async () => (await desiredOf(asg)) === 0 && (await poolNodes(pool)) === 0,
        { timeoutMs: 60_000 },
      );
      await kubectl(
        ["apply", "-f", "-"],
        stringify({
          apiVersion: "spillway.dev/v1alpha1",
          kind: "InferenceModel",
          metadata: { name: "chat", namespace: ns },
          spec: {
            model: { uri: "https://models.example/tiny.gguf" },
            server: { parallel: 2, resources: { requests: { cpu: "1", memory: "1Gi" } } },
            replicas: { base: { min: 1, max: 2 }, burst: { max: 2, pools: [pool] } },
            autoscaling: { metric: "inFlight", target: 2, scaleDownStabilizationSeconds: 4 },
          },
        }),
      );
      const basePod = await waitFor(
        "the base pod's server",
        () => standIns.pods().find((p) => p.includes("-base-") && standIns.url(p)),
        { timeoutMs: 60_000 },
      );
      const ready = async () => {
        const m = await kubectl.json<{ status?: { replicas?: { burst: { ready: number } } } }>([
          "get",
          "im",
          "chat",
          "-n",
          ns,
        ]);
        return m.status?.replicas?.burst.ready;
      };
      t0 = Date.now();
      const load = steadyLoad(standIns.url(basePod)!, { concurrency: 8, maxRequests: 2000, maxSeconds: 120 });
      try {
        await waitFor("2 burst replicas Ready", async () => (await ready()) === 2, {
          timeoutMs: 90_000,
          intervalMs: 100,
        });
      } finally {
        const react = Date.now() - t0;
        t0 = Date.now();
        await load.stop();
        results.push({ baseline, react, release: 0 });
      }
      await waitFor(
        "the spot node released",
        async () => (await poolNodes(pool)) === 0 && (await desiredOf(asg)) === 0,
        { timeoutMs: 90_000, intervalMs: 100 },
      );
      results.at(-1)!.release = Date.now() - t0;
      log(
        `run ${r + 1}: floor ${baseline} ms, load step → burst Ready ${results.at(-1)!.react} ms, load end → node gone ${results.at(-1)!.release} ms`,
      );
      await kubectl(["delete", "im", "chat", "-n", ns, "--wait=true"]);
    }
  } finally {
    await operator.kill();
    await standIns.stop();
    await nodes.stop();
    await kubectl(["delete", "burstpools", "-l", `spillway.dev/bench=${run}`]).catch(() => undefined);
    await kubectl(["delete", "namespace", ns, "--wait=false"]).catch(() => undefined);
    if (!clusterWasUp) await cluster.down();
    if (!emulatorsWereUp) await emulators.down();
  }
  const floor = median(results.map((r) => r.baseline));
  const react = median(results.map((r) => r.react));
  const release = median(results.map((r) => r.release));
  const lines = [
    `${RUNS} runs, medians; local control plane + AWS emulator on 2 vCPUs; load sampled every 1 s, pools every 1 s, scale-down window 4 s, empty-node cooldown 2 s`,
    "",
    "| measure | median | runs |",
    "| --- | --- | --- |",
    `| floor: Deployment scaled and ASG raised by hand → 2 pods Ready on the new node | ${floor} ms | ${results.map((r) => r.baseline).join(", ")} |`,
    `| load step → 2 burst replicas Ready on a new spot node (operator) | ${react} ms | ${results.map((r) => r.react).join(", ")} |`,
    `| ratio operator ÷ floor | ${(react / floor).toFixed(2)} | |`,
    `| load end → spot node gone, ASG at 0 | ${release} ms | ${results.map((r) => r.release).join(", ")} |`,
    `| model decisions per second (${MODELS} models: autoscaler, plan, diff, status) | ${pure.modelDecisionsPerSecond.toFixed(0)} | |`,
    `| one pool decision, 1000 pending pods over 10 pools | ${pure.poolDecisionMs.toFixed(1)} ms | |`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  writeReport(args.json, {
    "load step → burst Ready, operator ÷ floor": { value: react / floor, better: "lower" },
  });
}

await main();
