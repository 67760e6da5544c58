/**
 * npm run bench:operator [-- --models 1000 --steady 60 --workers 4 --heap MiB --cpu-prof DIR]
 *
 * 1000 InferenceModels applied (server-side apply, 16 at a time) to the local control plane:
 * time until all are Ready, reconcile p50/p99 (from the operator's histogram), the operator's RSS, and
 * API writes during a steady-state window. Starts its own control plane with a larger simulated base tier
 * (10 nodes of 250 pods) so every model's pod can be placed; the operator runs as its own process.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { KubernetesObjectApi, PatchStrategy, Watch } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { down, isRunning, up } from "../../src/cli/local-cluster/cluster.js";
import { DEFAULT_TOPOLOGY } from "../../src/cli/local-cluster/topology.js";
import { kubectlFor } from "../../src/cli/lib/kubectl.js";
import { readPid } from "../../src/cli/lib/process.js";
import { KeepAliveKubeConfig } from "../../src/operator/kube-config.js";
import { repoRoot } from "../../src/cli/lib/paths.js";

const execFileAsync = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    models: { type: "string", default: "1000" },
    steady: { type: "string", default: "60" },
    workers: { type: "string", default: "4" },
    heap: { type: "string", default: "" },
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
function shareWithin(text: string, name: string, le: string): number {
  const count = (bound: string) =>
    Number(
      text
        .split("\n")
        .find((l) => l.startsWith(`${name}_bucket{le="${bound}"}`))
        ?.split(" ")
        .at(-1) ?? 0,
    );
  return count(le) / Math.max(1, count("+Inf"));
}

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

async function main() {
  if (await isRunning()) {
    log("stopping the running local control plane: the benchmark needs its own topology");
    await down();
  }
  const topology = {
    pools: [
      { ...DEFAULT_TOPOLOGY.pools[0]!, count: 10, cpu: "256", memory: "1Ti", pods: "250" },
      ...DEFAULT_TOPOLOGY.pools.slice(1),
    ],
  };
  const cluster = await up({ topology, log: (l) => log(l) });
  const kubectl = kubectlFor(cluster.kubeconfig);
  try {
    await kubectl(["apply", "--server-side", "-f", join(repoRoot, "charts", "spillway", "crds")]);
    await kubectl(["wait", "--for=condition=Established", "crd/inferencemodels.spillway.dev"]);
    await kubectl(["create", "namespace", "bench"]);
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
    writeFileSync(
      configFile,
      stringify({
        leaderElection: { enabled: false },
        probePort: PORT,
        probeHost: "127.0.0.1",
        logLevel: "warn",
        workers: Number(args.workers),
      }),
    );
    log(`operator log: ${operatorLog}`);
    const operator = spawn(
      process.execPath,
      [
        ...(args.heap ? [`--max-old-space-size=${args.heap}`] : []),
        ...(args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${args["cpu-prof"]}`] : []),
        join(buildDir, "operator", "main.js"),
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
    const models = Array.from({ length: MODELS }, (_, i) => ({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "InferenceModel",
      metadata: { name: `m${String(i).padStart(4, "0")}`, namespace: "bench" },
      spec: {
        model: { uri: `https://models.example/m${i}.gguf` },
        server: { resources: { requests: { cpu: "10m", memory: "16Mi" } } },
      },
    }));
    // 16 server-side applies at a time, as a GitOps tool would send them; `kubectl apply -f` of one
    // 1000-document file sends them one by one (87 s here) and would measure kubectl, not the operator.
    const kc = new KeepAliveKubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const pids: Record<string, number> = { operator: operator.pid!, "this script": process.pid };
    for (const name of CONTROL_PLANE) pids[name] = readPid(cluster.stateDir, name)!;
    const cpuAt = () => Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, cpuSeconds(pid)]));
    const cpu0 = cpuAt();
    const requests0 = await apiserverRequests(kubectl);
    // One watch, not a list every few seconds: the API server and the script do next to no work to
    // count, and the time is taken when the last model turns Ready rather than at the next poll.
    const readyNames = new Set<string>();
    let allReady = 0;
    const watch = await new Watch(kc).watch(
      "/apis/spillway.dev/v1alpha1/namespaces/bench/inferencemodels",
      {},
      (
        _type: string,
        obj: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } },
      ) => {
        const isReady = obj.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        if (isReady) readyNames.add(obj.metadata.name);
        else readyNames.delete(obj.metadata.name);
        if (readyNames.size === MODELS && !allReady) allReady = (performance.now() - t0) / 1000;
      },
      (err: unknown) => {
        if (err && !allReady) log(`watch ended: ${err instanceof Error ? err.message : JSON.stringify(err)}`);
      },
    );
    const t0 = performance.now();
    const pending = [...models];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let m = pending.shift(); m; m = pending.shift()) {
          await objects.patch(m, undefined, undefined, "bench", true, PatchStrategy.ServerSideApply);
        }
      }),
    );
    const applied = (performance.now() - t0) / 1000;
    log(`${MODELS} models applied in ${applied.toFixed(1)} s`);
    let appliedAll: number | undefined;
    const deadline = Date.now() + 15 * 60_000;
    while (!allReady && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000));
      // The operator's own part is done once every model's objects exist; the rest is controllers'.
      if (appliedAll === undefined) {
        const m = await metrics();
        const kinds = ["Deployment", "Service", "PodDisruptionBudget"].map((k) =>
          sum(m, `spillway_operator_api_writes_total{kind="${k}"}`),
        );
        if (kinds.every((n) => n >= MODELS)) appliedAll = (performance.now() - t0) / 1000;
      }
      log(`${readyNames.size}/${MODELS} Ready after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    watch.abort();
    const ready = readyNames.size;
    if (!allReady) allReady = (performance.now() - t0) / 1000;
    const cpu1 = cpuAt();
    const peakRss = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, rssMiB(pid).peak]));
    const requests1 = await apiserverRequests(kubectl);
    const atReady = await metrics();
    const mem = rssMiB(operator.pid!);
    // Steady state: nothing changes, so nothing should be written.
    await new Promise((r) => setTimeout(r, 5000));
    const before = await metrics();
    await new Promise((r) => setTimeout(r, STEADY * 1000));
    const after = await metrics();
    const writes =
      sum(after, "spillway_operator_api_writes_total") - sum(before, "spillway_operator_api_writes_total");
    const reconciles =
      sum(after, "spillway_operator_reconciles_total") - sum(before, "spillway_operator_reconciles_total");
    const memEnd = rssMiB(operator.pid!);
    operator.kill("SIGTERM");
    // Its graceful stop (and a CPU profile, if asked for) needs the API server still up.
    await Promise.race([once(operator, "exit"), new Promise((r) => setTimeout(r, 10_000))]);
    const lines = [
      `${MODELS} InferenceModels created with 16 concurrent server-side applies, operator with ${args.workers} workers${args.heap ? ` and --max-old-space-size=${args.heap}` : ""}, 2 vCPUs shared with etcd, kube-apiserver, controller-manager, scheduler and kwok`,
      "",
      "| measure | result | target |",
      "| --- | --- | --- |",
      `| all Ready (from the first apply) | ${allReady.toFixed(1)} s (apply itself: ${applied.toFixed(1)} s)${ready < MODELS ? `, only ${ready} Ready` : ""} | ≤ 60 s |`,
      `| every model's Deployment, Service and PDB applied by the operator | ${appliedAll?.toFixed(1) ?? "?"} s | |`,
      `| reconcile p50 / p99 | ${(quantile(atReady, "spillway_operator_reconcile_duration_seconds", 0.5) * 1000).toFixed(1)} ms / ${(quantile(atReady, "spillway_operator_reconcile_duration_seconds", 0.99) * 1000).toFixed(1)} ms (${sum(atReady, "spillway_operator_reconciles_total")} reconciles; ${(100 * shareWithin(atReady, "spillway_operator_reconcile_duration_seconds", "0.5")).toFixed(1)} % within 500 ms) | p99 ≤ 500 ms |`,
      `| operator RSS (at all Ready / peak / after steady state) | ${mem.rss.toFixed(0)} / ${Math.max(mem.peak, memEnd.peak).toFixed(0)} / ${memEnd.rss.toFixed(0)} MiB | ≤ 250 MiB |`,
      `| API writes in ${STEADY} s of steady state | ${writes} (${reconciles} reconciles) | 0 |`,
      `| API writes to reach Ready | ${sum(atReady, "spillway_operator_api_writes_total")} | |`,
      "",
      `CPU seconds used from the first apply to all Ready (${allReady.toFixed(1)} s × 2 vCPUs = ${(allReady * 2).toFixed(0)} s available):`,
      "",
      "| process | CPU s | share | peak RSS MiB |",
      "| --- | --- | --- | --- |",
      ...Object.keys(pids).map((n) => {
        const used = cpu1[n]! - cpu0[n]!;
        return `| ${n} | ${used.toFixed(1)} | ${((100 * used) / (allReady * 2)).toFixed(0)} % | ${peakRss[n]!.toFixed(0)} |`;
      }),
      "",
      "API server requests from the first apply to all Ready (latency summed over requests; it includes waiting):",
      "",
      "| request | count | summed latency s |",
      "| --- | --- | --- |",
      ...[...requests1]
        .map(([key, r]) => {
          const r0 = requests0.get(key) ?? { seconds: 0, count: 0 };
          return { key, count: r.count - r0.count, seconds: r.seconds - r0.seconds };
        })
        .filter((r) => r.count > 0)
        .sort((a, b) => b.count - a.count)
        .slice(0, 20)
        .map((r) => `| ${r.key} | ${r.count} | ${r.seconds.toFixed(1)} |`),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await down();
  }
}

await main();
