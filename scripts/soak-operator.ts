/**
 * Operator soak: a bounded steady state with churn against the local control plane. Each cycle creates
 * InferenceModels, waits for their Deployments, changes every model (the Deployments follow), deletes
 * them and waits until their objects are gone; meanwhile the operator's RSS (from /proc), V8 heap, open
 * file descriptors (sockets among them) and held objects (informer caches, per-model tables, active
 * timers and handles: spillway_operator_held_objects) are sampled every second.
 *
 *   npm run soak:operator -- [--cycles 60] [--models 10] [--max-rss-growth-mb 40] [--max-heap-growth-mb 10]
 *
 * Fails (exit 1) when RSS after warm-up grows past its bound (the median of the last quarter of samples
 * against the first quarter's), when the heap does (the lowest sample of the second half against the first
 * quarter's: the troughs after collections), when any held object count or the descriptor count ends above
 * where it was before the churn (a small slack for descriptors and timers), or when the work queue is not
 * empty at the end. Exit 2 when the control plane cannot start. Numbers: BENCHMARKS.md.
 */
import { readFileSync, readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { down, isRunning, up } from "../testbed/cluster/cluster.js";
import { simulatedNamespace } from "../testbed/cluster/topology.js";
import { applyCrds, kubectlFor } from "../src/lib/kubectl.js";
import { writeReport } from "../src/lib/report-file.js";
import { parsePrometheusText, type Sample } from "../src/lib/prometheus-text.js";
import { median } from "../src/lib/stats.js";
import { inferenceModel, withBase } from "../tests/helpers/inference-models.js";
import { startOperator } from "../tests/helpers/operator.js";

const { values: args } = parseArgs({
  options: {
    // Long enough for the operator's heap to see a full collection (BENCHMARKS.md, "Operator soak").
    cycles: { type: "string", default: "60" },
    models: { type: "string", default: "10" },
    "warmup-cycles": { type: "string", default: "3" },
    "max-rss-growth-mb": { type: "string", default: "40" },
    "max-heap-growth-mb": { type: "string", default: "10" },
    json: { type: "string" },
  },
});
const log = (m: string) => process.stderr.write(`[soak:operator] ${m}\n`);
const MB = 1024 * 1024;
const NS = "soak-operator";
const CYCLES = Number(args.cycles);
const MODELS = Number(args.models);
const WARMUP = Number(args["warmup-cycles"]);

let cluster;
const clusterWasUp = await isRunning();
try {
  if (!clusterWasUp) log("starting the local control plane (kwok nodes only)");
  cluster = await up({ realNode: false, log: (l) => log(l) });
} catch (err) {
  process.stderr.write(`soak:operator: the local control plane did not start: ${(err as Error).message}\n`);
  process.exit(2);
}
const kubectl = kubectlFor(cluster.kubeconfig);
await applyCrds(kubectl);
await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace(NS)));
await kubectl(["delete", "inferencemodels", "--all", "-n", NS, "--wait=true"]);

const operator = await startOperator({
  kubeconfig: cluster.kubeconfig,
  identity: "soak",
  leaseNamespace: NS,
  config: { leaderElection: { enabled: false }, logLevel: "warn", namespaces: [NS], resyncSeconds: 30 },
});
const pid = operator.child.pid ?? 0;

interface Point {
  t: number;
  cycle: number;
  rss: number;
  heap: number;
  fds: number;
  queue: number;
  held: Record<string, number>;
}
const points: Point[] = [];
let cycle = 0;
const started = Date.now();

async function sample(): Promise<Point> {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  const samples: Sample[] = parsePrometheusText(await (await fetch(`${operator.probes}/metrics`)).text());
  const value = (name: string) => samples.find((s) => s.name === name)?.value ?? 0;
  const held: Record<string, number> = {};
  for (const s of samples)
    if (s.name === "spillway_operator_held_objects") held[s.labels.store ?? "?"] = s.value;
  return {
    t: (Date.now() - started) / 1000,
    cycle,
    rss,
    heap: value("spillway_operator_process_nodejs_heap_size_used_bytes"),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    queue: value("spillway_operator_queue_depth"),
    held,
  };
}

const sampling = { on: true };
const sampler = (async () => {
  while (sampling.on) {
    points.push(await sample());
    await sleep(1000);
  }
})();

const names = Array.from({ length: MODELS }, (_, i) => `churn-${i}`);
const models = (parallel: number) =>
  stringify({
    apiVersion: "v1",
    kind: "List",
    items: names.map((n) => {
      const m = inferenceModel(n, withBase(1));
      m.spec.server.parallel = parallel;
      return { ...m, metadata: { name: n, namespace: NS } };
    }),
  });

/** Waits until every model's Deployment is there, with `parallel` in its container args (or gone). */
async function deployments(expect: "present" | "absent", parallel?: number) {
  for (let i = 0; i < 600; i++) {
    const out = JSON.parse(
      await kubectl([
        "get",
        "deployments",
        "-n",
        NS,
        "-l",
        "app.kubernetes.io/managed-by=spillway",
        "-o",
        "json",
      ]),
    ) as {
      items: {
        spec: {
          template: { spec: { containers: { args?: string[]; env?: { name: string; value?: string }[] }[] } };
        };
      }[];
    };
    if (
      expect === "absent"
        ? out.items.length === 0
        : out.items.length === MODELS &&
          out.items.every((d) => JSON.stringify(d.spec.template.spec.containers[0]).includes(`"${parallel}"`))
    )
      return;
    await sleep(200);
  }
  throw new Error(`deployments did not become ${expect}`);
}

/** Waits until the namespace has no pods left: each cycle ends where it started. */
async function podsGone() {
  for (let i = 0; i < 600; i++) {
    const out = JSON.parse(await kubectl(["get", "pods", "-n", NS, "-o", "json"])) as { items: unknown[] };
    if (out.items.length === 0) return;
    await sleep(200);
  }
  throw new Error("pods were not deleted");
}

let before: Point | undefined;
try {
  for (cycle = 1; cycle <= CYCLES + WARMUP; cycle++) {
    if (cycle === WARMUP + 1) before = await sample();
    await kubectl(["apply", "--server-side", "--field-manager=soak", "-f", "-"], models(2));
    await deployments("present", 2);
    await kubectl(["apply", "--server-side", "--field-manager=soak", "-f", "-"], models(3));
    await deployments("present", 3);
    await kubectl(["delete", "inferencemodels", "--all", "-n", NS, "--wait=true"]);
    await deployments("absent");
    await podsGone();
    if (cycle % 5 === 0)
      log(`cycle ${cycle}/${CYCLES + WARMUP}: RSS ${((points.at(-1)?.rss ?? 0) / MB).toFixed(0)} MiB`);
  }
  // Let the caches and tables settle: deletions reach informers asynchronously.
  await sleep(10_000);
} finally {
  sampling.on = false;
  await sampler;
}
const after = await sample();
await operator.stop();
await kubectl(["delete", "namespace", NS, "--wait=false"]);
if (!clusterWasUp) await down();

const steady = points.filter((p) => p.cycle > WARMUP);
const q = Math.max(1, Math.floor(steady.length / 4));
const rssGrowth = median(steady.slice(-q).map((p) => p.rss)) - median(steady.slice(0, q).map((p) => p.rss));
// The heap saws up and down between collections, and its troughs climb until a full collection: the
// lowest sample of the second half, which holds one, against the first quarter's.
const heapGrowth =
  Math.min(...steady.slice(Math.floor(steady.length / 2)).map((p) => p.heap)) -
  Math.min(...steady.slice(0, q).map((p) => p.heap));
const failures: string[] = [];
if (rssGrowth > Number(args["max-rss-growth-mb"]) * MB)
  failures.push(`RSS grew ${(rssGrowth / MB).toFixed(1)} MiB (bound ${args["max-rss-growth-mb"]})`);
if (heapGrowth > Number(args["max-heap-growth-mb"]) * MB)
  failures.push(`heap grew ${(heapGrowth / MB).toFixed(1)} MiB (bound ${args["max-heap-growth-mb"]})`);
if (!before) throw new Error("no sample before the churn");
const start = before;
if (after.fds > before.fds + 4) failures.push(`open descriptors ${before.fds} → ${after.fds}`);
if (after.queue !== 0) failures.push(`work queue holds ${after.queue} at the end`);
for (const [store, n] of Object.entries(after.held)) {
  // Timers and handles come and go with requests; a leak adds one per cycle, far past this slack.
  const slack = store.startsWith("active ") ? 4 : 0;
  if (n > (before.held[store] ?? 0) + slack) failures.push(`${store}: ${before.held[store] ?? 0} → ${n}`);
}

const lines = [
  `${CYCLES} cycles after ${WARMUP} warm-up, ${MODELS} models each (create, change, delete), ${points.length} samples over ${((Date.now() - started) / 1000).toFixed(0)} s`,
  `RSS ${(before.rss / MB).toFixed(1)} → ${(after.rss / MB).toFixed(1)} MiB (growth, median last quarter − first: ${(rssGrowth / MB).toFixed(1)} MiB)`,
  `heap ${(before.heap / MB).toFixed(1)} → ${(after.heap / MB).toFixed(1)} MiB (growth, lowest of the second half − of the first quarter: ${(heapGrowth / MB).toFixed(1)} MiB)`,
  `open descriptors ${before.fds} → ${after.fds}; work queue at the end ${after.queue}`,
  `held objects before → after: ${Object.entries(after.held)
    .map(([k, v]) => `${k} ${start.held[k] ?? 0}→${v}`)
    .join(", ")}`,
  failures.length ? `FAILED: ${failures.join("; ")}` : "passed",
];
process.stdout.write(`${lines.join("\n")}\n`);
if (args.json)
  writeReport(args.json, JSON.stringify({ before, after, rssGrowth, heapGrowth, failures, points }, null, 2));
process.exit(failures.length ? 1 : 0);
