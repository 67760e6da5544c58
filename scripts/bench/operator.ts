/**
 * npm run bench:operator [-- --models 1000 --steady 60 --workers 4 --heap MiB --cpu-prof DIR]
 *
 * 1000 InferenceModels applied (server-side apply, 16 at a time) to the local control plane:
 * time until all are Ready, reconcile p50/p99 (from the operator's histogram), the operator's RSS, and
 * API writes during a steady-state window. Starts its own control plane with a larger simulated base tier
 * (10 nodes of 250 pods) so every model's pod can be placed; the operator runs as its own process.
 * First, as the baseline on a control plane of its own, the same objects are applied with no operator:
 * the ratio between the two says what the operator adds to what the control plane needs anyway.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import {
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
  type KubernetesObject,
  type V1Deployment,
} from "@kubernetes/client-node";
import type { InferenceModel } from "../../src/api/inference-model.js";
import { stringify } from "yaml";
import { writeReport } from "../../src/lib/bench-ratios.js";
import { down, isRunning, up } from "../../testbed/cluster/cluster.js";
import { DEFAULT_TOPOLOGY, simulatedNamespace } from "../../testbed/cluster/topology.js";
import { applyCrds, kubectlFor } from "../../src/lib/kubectl.js";
import { readPid } from "../../testbed/lib/process.js";
import { parseOperatorConfig, planConfigOf } from "../../src/operator/config.js";
import { KeepAliveKubeConfig } from "../../src/operator/kube-config.js";
import { initialScale, plan } from "../../src/operator/plan.js";
import { repoRoot } from "../../src/lib/paths.js";

const execFileAsync = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    models: { type: "string", default: "1000" },
    steady: { type: "string", default: "60" },
    workers: { type: "string", default: "4" },
    heap: { type: "string", default: "" },
    // The report with its ratios, for the regression gate (scripts/bench/gate.ts).
    json: { type: "string" },
    // A directory for a V8 CPU profile of the operator (open it in Chrome DevTools or speedscope).
    "cpu-prof": { type: "string", default: "" },
  },
});
const MODELS = Number(args.models);
const STEADY = Number(args.steady);
const PORT = 18_900;
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text();
}
const sum = (text: string, prefix: string) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .reduce((s, l) => s + Number(l.split(" ").at(-1)), 0);

/** Share of a histogram's observations at or below a bucket bound: exact, where a quantile interpolates. */
const shareWithin = (text: string, name: string, le: string) =>
  sum(text, `${name}_bucket{le="${le}"}`) / Math.max(1, sum(text, `${name}_bucket{le="+Inf"}`));

/** Prometheus-style quantile from cumulative histogram buckets (linear within a bucket). */
function quantile(text: string, name: string, q: number): number {
  const buckets = text
    .split("\n")
    .filter((l) => l.startsWith(`${name}_bucket`))
    .map((l) => ({
      le: Number(/le="([^"]+)"/.exec(l)?.[1]?.replace("+Inf", "Infinity")),
      n: Number(l.split(" ").at(-1)),
    }));
  const total = buckets.at(-1)?.n ?? 0;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const b of buckets) {
    if (b.n >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevN)) / Math.max(1, b.n - prevN);
    }
    prevLe = b.le;
    prevN = b.n;
  }
  return prevLe;
}

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/** User + system CPU seconds a process has used so far (clock ticks are 100 Hz on Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
/** The API server's time and request counts per verb and resource, from its own metrics. */
async function apiserverRequests(kubectl: (args: string[]) => Promise<string>) {
  const text = await kubectl(["get", "--raw", "/metrics"]);
  const byKey = new Map<string, { seconds: number; count: number }>();
  for (const line of text.split("\n")) {
    const m = /^apiserver_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const label = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(m[2]!)?.[1] ?? "";
    if (label("verb") === "WATCH" || label("verb") === "CONNECT") continue;
    const sub = label("subresource");
    const key = `${label("verb")} ${label("resource")}${sub ? `/${sub}` : ""}`;
    const entry = byKey.get(key) ?? { seconds: 0, count: 0 };
    if (m[1] === "sum") entry.seconds += Number(m[3]);
    else entry.count += Number(m[3]);
    byKey.set(key, entry);
  }
  return byKey;
}
const CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"];

const TOPOLOGY = {
  pools: [
    { ...DEFAULT_TOPOLOGY.pools[0]!, count: 10, cpu: "256", memory: "1Ti", pods: "250" },
    ...DEFAULT_TOPOLOGY.pools.slice(1),
  ],
};

const MODEL_OBJECTS = Array.from({ length: MODELS }, (_, i) => ({
  apiVersion: "spillway.dev/v1alpha1",
  kind: "InferenceModel",
  metadata: { name: `m${String(i).padStart(4, "0")}`, namespace: "bench" },
  spec: {
    model: { uri: `https://models.example/m${i}.gguf` },
    server: { resources: { requests: { cpu: "10m", memory: "16Mi" } } },
  },
}));

const OPERATOR_CONFIG = {
  leaderElection: { enabled: false },
  probePort: PORT,
  probeHost: "127.0.0.1",
  logLevel: "warn",
  workers: Number(args.workers),
};

/** A fresh local control plane with the CRDs and the `bench` namespace, and what the phases measure it by. */
async function startCluster() {
  if (await isRunning()) {
    log("stopping the running local control plane: each phase starts one of its own");
    await down();
  }
  // kwok only: kube-proxy syncing 1000 Services on the real node would be noise in the numbers.
  const cluster = await up({ topology: TOPOLOGY, realNode: false, log: (l) => log(l) });
  const kubectl = kubectlFor(cluster.kubeconfig);
  await applyCrds(kubectl);
  await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace("bench")));
  const kc = new KeepAliveKubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const pids: Record<string, number> = { "this script": process.pid };
  for (const name of CONTROL_PLANE) pids[name] = readPid(cluster.stateDir, name)!;
  return { cluster, kubectl, kc, pids };
}
type Bed = Awaited<ReturnType<typeof startCluster>>;

/**
 * Server-side applies, 16 at a time, as a GitOps tool would send them; `kubectl apply -f` of one
 * 1000-document file sends them one by one (87 s here) and would measure kubectl, not the operator.
 */
async function applyAll(kc: KeepAliveKubeConfig, items: KubernetesObject[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const pending = [...items];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let o = pending.shift(); o; o = pending.shift()) {
        await client.patch(o, undefined, undefined, "bench", true, PatchStrategy.ServerSideApply);
      }
    }),
  );
}

/**
 * Counts the objects under `path` for which `done` holds, with one watch rather than a list every few
 * seconds: the API server and the script do next to no work to count, and the time is taken when the
 * last one turns done rather than at the next poll.
 */
async function countDone(
  kc: KeepAliveKubeConfig,
  path: string,
  done: (obj: unknown) => boolean,
  t0: () => number,
) {
  const names = new Set<string>();
  let all = 0;
  const watch = await new Watch(kc).watch(
    path,
    {},
    (_type: string, obj: KubernetesObject) => {
      const name = obj.metadata?.name ?? "";
      if (done(obj)) names.add(name);
      else names.delete(name);
      if (names.size === MODELS && !all) all = (performance.now() - t0()) / 1000;
    },
    (err: unknown) => {
      if (err && !all) log(`watch ended: ${err instanceof Error ? err.message : JSON.stringify(err)}`);
    },
  );
  return {
    get count() {
      return names.size;
    },
    /** Seconds from t0 until the last one was done; 0 while some are not. */
    get all() {
      return all;
    },
    stop: () => {
      watch.abort();
    },
  };
}

async function waitAll(progress: { count: number; all: number }, t0: number, each?: () => Promise<void>) {
  const deadline = Date.now() + 15 * 60_000;
  while (!progress.all && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    await each?.();
    log(`${progress.count}/${MODELS} after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  return progress.all || (performance.now() - t0) / 1000;
}

const cpuAt = (pids: Record<string, number>) =>
  Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, cpuSeconds(pid)]));
const cpuTotal = (a: Record<string, number>, b: Record<string, number>) =>
  Object.keys(b).reduce((t, n) => t + b[n]! - a[n]!, 0);

/**
 * The control plane alone, as the baseline: the same models, and the objects the operator would make for
 * them applied by this script at once, with no operator (so no status writes and no Events). Time until
 * every base Deployment has a ready replica.
 */
async function baseline(bed: Bed) {
  const cpu0 = cpuAt(bed.pids);
  const t0 = performance.now();
  const ready = await countDone(
    bed.kc,
    "/apis/apps/v1/namespaces/bench/deployments",
    (d) => ((d as V1Deployment).status?.readyReplicas ?? 0) >= 1,
    () => t0,
  );
  await applyAll(bed.kc, MODEL_OBJECTS);
  const models = (await bed.kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    group: "spillway.dev",
    version: "v1alpha1",
    namespace: "bench",
    plural: "inferencemodels",
  })) as { items: InferenceModel[] };
  const config = planConfigOf(parseOperatorConfig(OPERATOR_CONFIG));
  await applyAll(bed.kc, models.items.flatMap((m) => plan(m, initialScale(m), config)) as KubernetesObject[]);
  const seconds = await waitAll(ready, t0);
  ready.stop();
  return { seconds, cpu: cpuTotal(cpu0, cpuAt(bed.pids)) };
}

async function withOperator(bed: Bed) {
  const { cluster, kubectl, kc, pids } = bed;
  // The compiled operator, as the image runs it: tsx's on-the-fly compilation would add to the RSS.
  const buildDir = join(cluster.stateDir, "bench-dist");
  await execFileAsync(join(repoRoot, "node_modules", ".bin", "tsc"), [
    "-p",
    join(repoRoot, "tsconfig.build.json"),
    "--outDir",
    buildDir,
  ]);
  const operatorLog = join(cluster.stateDir, "logs", "bench-operator.log");
  const configFile = join(cluster.stateDir, "bench-operator.yaml");
  writeFileSync(configFile, stringify(OPERATOR_CONFIG));
  log(`operator log: ${operatorLog}`);
  const operator = spawn(
    process.execPath,
    [
      ...(args.heap ? [`--max-old-space-size=${args.heap}`] : []),
      ...(args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${args["cpu-prof"]}`] : []),
      // The build's root is the repository (tsconfig.build.json), so the operator is under src/.
      join(buildDir, "src", "operator", "main.js"),
      "--config",
      configFile,
      "--identity",
      "bench",
    ],
    {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfig },
      stdio: ["ignore", openSync(operatorLog, "w"), "inherit"],
    },
  );
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`http://127.0.0.1:${PORT}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  pids.operator = operator.pid!;
  const cpu0 = cpuAt(pids);
  const requests0 = await apiserverRequests(kubectl);
  const t0 = performance.now();
  const ready = await countDone(
    kc,
    "/apis/spillway.dev/v1alpha1/namespaces/bench/inferencemodels",
    (m) =>
      (m as InferenceModel).status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ??
      false,
    () => t0,
  );
  await applyAll(kc, MODEL_OBJECTS);
  const applied = (performance.now() - t0) / 1000;
  log(`${MODELS} models applied in ${applied.toFixed(1)} s`);
  let appliedAll: number | undefined;
  const allReady = await waitAll(ready, t0, async () => {
    // The operator's own part is done once every model's objects exist; the rest is controllers'.
    if (appliedAll !== undefined) return;
    const m = await metrics();
    const kinds = ["Deployment", "Service", "PodDisruptionBudget"].map((k) =>
      sum(m, `spillway_operator_api_writes_total{kind="${k}"}`),
    );
    if (kinds.every((n) => n >= MODELS)) appliedAll = (performance.now() - t0) / 1000;
  });
  ready.stop();
  const cpu1 = cpuAt(pids);
  const peakRss = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, rssMiB(pid).peak]));
  const requests1 = await apiserverRequests(kubectl);
  const atReady = await metrics();
  const mem = rssMiB(operator.pid!);
  // Steady state: nothing changes, so nothing should be written.
  await new Promise((r) => setTimeout(r, 5000));
  const before = await metrics();
  await new Promise((r) => setTimeout(r, STEADY * 1000));
  const after = await metrics();
  const memEnd = rssMiB(operator.pid!);
  operator.kill("SIGTERM");
  // Its graceful stop (and a CPU profile, if asked for) needs the API server still up.
  await Promise.race([once(operator, "exit"), new Promise((r) => setTimeout(r, 10_000))]);
  const delta = (name: string) => sum(after, name) - sum(before, name);
  return {
    allReady,
    readyCount: ready.count,
    applied,
    appliedAll,
    atReady,
    mem,
    memEnd,
    steadyWrites: delta("spillway_operator_api_writes_total"),
    steadyReconciles: delta("spillway_operator_reconciles_total"),
    cpu: Object.keys(pids).map((n) => ({ name: n, used: cpu1[n]! - cpu0[n]!, peak: peakRss[n]! })),
    requests: [...requests1]
      .map(([key, r]) => {
        const r0 = requests0.get(key) ?? { seconds: 0, count: 0 };
        return { key, count: r.count - r0.count, seconds: r.seconds - r0.seconds };
      })
      .filter((r) => r.count > 0)
      .sort((a, b) => b.count - a.count)
      .slice(0, 20),
  };
}

async function main() {
  let base: Awaited<ReturnType<typeof baseline>>;
  let run: Awaited<ReturnType<typeof withOperator>>;
  try {
    log("baseline: the control plane alone");
    base = await baseline(await startCluster());
    log(`baseline: all base Deployments ready in ${base.seconds.toFixed(1)} s`);
    log("with the operator, on a fresh control plane");
    run = await withOperator(await startCluster());
  } finally {
    await down();
  }
  const histogram = "spillway_operator_reconcile_duration_seconds";
  const ms = (q: number) => (quantile(run.atReady, histogram, q) * 1000).toFixed(1);
  const lines = [
    `${MODELS} InferenceModels created with 16 concurrent server-side applies, operator with ${args.workers} workers${args.heap ? ` and --max-old-space-size=${args.heap}` : ""}, 2 vCPUs shared with etcd, kube-apiserver, controller-manager, scheduler and kwok`,
    "",
    "| measure | result | target |",
    "| --- | --- | --- |",
    `| all Ready (from the first apply) | ${run.allReady.toFixed(1)} s (apply itself: ${run.applied.toFixed(1)} s)${run.readyCount < MODELS ? `, only ${run.readyCount} Ready` : ""} | ≤ 60 s |`,
    `| baseline: the same models' objects applied directly, no operator, until every base Deployment is ready | ${base.seconds.toFixed(1)} s (${base.cpu.toFixed(0)} CPU s) | |`,
    `| ratio all Ready / baseline | ${(run.allReady / base.seconds).toFixed(2)} | |`,
    `| every model's Deployment, Service and PDB applied by the operator (polled every 2 s) | ${run.appliedAll?.toFixed(1) ?? "?"} s | |`,
    `| reconcile p50 / p99 | ${ms(0.5)} ms / ${ms(0.99)} ms (${sum(run.atReady, "spillway_operator_reconciles_total")} reconciles; ${(100 * shareWithin(run.atReady, histogram, "0.5")).toFixed(1)} % within 500 ms) | p99 ≤ 500 ms |`,
    `| operator RSS (at all Ready / peak / after steady state) | ${run.mem.rss.toFixed(0)} / ${Math.max(run.mem.peak, run.memEnd.peak).toFixed(0)} / ${run.memEnd.rss.toFixed(0)} MiB | ≤ 250 MiB |`,
    `| API writes in ${STEADY} s of steady state | ${run.steadyWrites} (${run.steadyReconciles} reconciles) | 0 |`,
    `| API writes to reach Ready | ${sum(run.atReady, "spillway_operator_api_writes_total")} | |`,
    "",
    `CPU seconds used from the first apply to all Ready (${run.allReady.toFixed(1)} s × 2 vCPUs = ${(run.allReady * 2).toFixed(0)} s available):`,
    "",
    "| process | CPU s | share | peak RSS MiB |",
    "| --- | --- | --- | --- |",
    ...run.cpu.map(
      (p) =>
        `| ${p.name} | ${p.used.toFixed(1)} | ${((100 * p.used) / (run.allReady * 2)).toFixed(0)} % | ${p.peak.toFixed(0)} |`,
    ),
    "",
    "API server requests from the first apply to all Ready (latency summed over requests; it includes waiting):",
    "",
    "| request | count | summed latency s |",
    "| --- | --- | --- |",
    ...run.requests.map((r) => `| ${r.key} | ${r.count} | ${r.seconds.toFixed(1)} |`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  writeReport(args.json, {
    "all Ready ÷ no-operator baseline": { value: run.allReady / base.seconds, better: "lower" },
  });
}

await main();
