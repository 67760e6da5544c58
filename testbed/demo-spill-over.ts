import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import type { LoadReport } from "../src/cli/load/report.js";
import { kubectlFor } from "../src/lib/kubectl.js";
import { repoRoot } from "../src/lib/paths.js";
import { defaultStateDir } from "./cluster/cluster.js";
import { AGENT_LABEL } from "./cluster/spot-agent.js";
import { completionsAnswered } from "./lib/http.js";

/**
 * The demo's spill-over step (scripts/demo.sh, after the first chat completion): a BurstPool whose group's
 * instances boot as real spot nodes, the demo's model allowed one burst replica there, and a short
 * `spillway load` through the model's Service, above what the base replica's slots hold. It prints what
 * happens as it happens — nodes joining, the burst replica Ready, each tier's share of the answers — and
 * then the drain back to the base. Bounded: 50 s of load, then at most 100 s for the drain.
 */
const MODEL = "chat-small";
const NAMESPACE = "default";
const POOL = "demo-spot";
const LOAD_SECONDS = 50;

const stateDir = defaultStateDir();
const kubectl = kubectlFor(join(stateDir, "kubeconfig"));
const started = Date.now();
const say = (line: string) => {
  process.stdout.write(`[demo] ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s  ${line}\n`);
};

interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: { nodeName?: string };
  status: { podIP?: string };
}

async function main(): Promise<void> {
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "spillway.dev/v1alpha1",
      kind: "BurstPool",
      metadata: { name: POOL, labels: { [AGENT_LABEL]: "real" } },
      spec: {
        provider: "aws",
        region: "eu-central-1",
        group: `${POOL}-asg`,
        nodeCapacity: { cpu: 1, memory: "4Gi" },
        maxNodes: 1,
        hourlyPriceUsd: 0.05,
      },
    }),
  );
  await kubectl([
    "patch",
    "im",
    MODEL,
    "-n",
    NAMESPACE,
    "--type",
    "merge",
    "-p",
    JSON.stringify({
      spec: {
        replicas: { burst: { max: 1, pools: [POOL] } },
        autoscaling: { metric: "inFlight", target: 2, scaleDownStabilizationSeconds: 15 },
      },
    }),
  ]);
  say(`BurstPool ${POOL} (its instances boot as real nodes); ${MODEL} may burst onto it`);

  // Counters from before the load: a second run of the demo finds the base replica of the first.
  const before = await answersByPod();
  const ip = (
    await kubectl(["get", "svc", MODEL, "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}"])
  ).trim();
  const report = join(stateDir, "demo-load.json");
  say(`spillway load: 6 users for ${LOAD_SECONDS}s through http://${ip}:8080, against 2 slots on the base`);
  const load = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(repoRoot, "testbed/main.ts"),
      "load",
      "--url",
      `http://${ip}:8080`,
      "--model",
      MODEL,
      "--users",
      "6",
      "--ramp",
      "2",
      "--duration",
      String(LOAD_SECONDS),
      "--think-ms",
      "50",
      "--max-tokens",
      "48",
      "--json",
      report,
      "--allow-remote",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let loadErr = "";
  load.stderr.on("data", (d: Buffer) => (loadErr += d.toString()));
  const loadExit = new Promise<number | null>((resolve) => load.once("exit", resolve));

  const watch = new Watch();
  let shownTables = false;
  while (load.exitCode === null && load.signalCode === null) {
    await watch.step();
    if (!shownTables && watch.burstReady > 0) {
      shownTables = true;
      process.stdout.write(`\n${await kubectl(["get", "im,burstpools", "-n", NAMESPACE])}\n`);
    }
    await sleep(1000);
  }
  if ((await loadExit) !== 0) throw new Error(`spillway load failed:\n${loadErr.slice(-2000)}`);
  const r = JSON.parse(readFileSync(report, "utf8")) as LoadReport;
  say(
    `load done: ${r.requests.total} requests, ${r.requests.errors} errors, p50 ${r.latencyMs.p50} ms, p95 ${r.latencyMs.p95} ms`,
  );
  const shares: Record<string, number> = {};
  for (const a of await answersByPod()) {
    const answered = a.answered - (before.find((b) => b.pod === a.pod)?.answered ?? 0);
    shares[a.tier] = (shares[a.tier] ?? 0) + answered;
    say(`  ${a.pod} (${a.tier}, on ${a.node}): ${answered} answers`);
  }
  const total = Object.values(shares).reduce((a, b) => a + b, 0) || 1;
  say(
    `answers by tier (each pod's own metrics): ${Object.entries(shares)
      .map(([tier, n]) => `${tier} ${n} (${((100 * n) / total).toFixed(0)}%)`)
      .join(", ")}`,
  );

  if (!shares.burst) throw new Error("no burst replica answered a request");
  say("load stopped: the burst drains after the 15 s stabilization window, then its node goes");
  const deadline = Date.now() + 100_000;
  while (Date.now() < deadline) {
    await watch.step();
    if (watch.nodes.size === 0 && watch.burstReady === 0) break;
    await sleep(1000);
  }
  process.stdout.write(`\n${await kubectl(["get", "im,burstpools", "-n", NAMESPACE])}\n`);
  if (watch.nodes.size > 0)
    throw new Error(`the spot node did not go within 100 s: ${[...watch.nodes].join(", ")}`);
  say("back to the base: the spot node is gone, the base replica serves alone");
}

/** Prints what changed since the last look: spot nodes, and the model's replicas per tier. */
class Watch {
  readonly nodes = new Set<string>();
  burstReady = 0;
  private summary = "";

  async step(): Promise<void> {
    const listed = await kubectl.json<{
      items: { metadata: { name: string }; status: { conditions?: { type: string; status: string }[] } }[];
    }>(["get", "nodes", "-l", `spillway.dev/pool=${POOL}`]);
    const now = new Set<string>();
    for (const n of listed.items) {
      const ready = n.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      if (!ready) continue;
      now.add(n.metadata.name);
      if (!this.nodes.has(n.metadata.name)) say(`spot node ${n.metadata.name} joined and is Ready`);
    }
    for (const name of this.nodes) if (!now.has(name)) say(`spot node ${name} is gone`);
    this.nodes.clear();
    for (const name of now) this.nodes.add(name);

    const im = await kubectl.json<{
      status?: { replicas?: Record<"base" | "burst", { summary?: string; ready?: number }> };
    }>(["get", "im", MODEL, "-n", NAMESPACE]);
    const replicas = im.status?.replicas;
    const summary = `base ${replicas?.base.summary ?? "?"}, burst ${replicas?.burst.summary ?? "?"}`;
    const ready = replicas?.burst.ready ?? 0;
    this.burstReady = ready;
    if (summary !== this.summary) say(`${MODEL} replicas: ${summary}`);
    this.summary = summary;
  }
}

/** Completions each of the model's pods has answered so far, from its own /metrics. */
async function answersByPod(): Promise<{ pod: string; tier: string; node: string; answered: number }[]> {
  const pods = await kubectl.json<{ items: Pod[] }>([
    "get",
    "pods",
    "-n",
    NAMESPACE,
    "-l",
    `spillway.dev/model=${MODEL}`,
  ]);
  return Promise.all(
    pods.items.map(async (p) => ({
      pod: p.metadata.name,
      tier: p.metadata.labels["spillway.dev/tier"] ?? "?",
      node: p.spec.nodeName ?? "?",
      answered: p.status.podIP
        ? await completionsAnswered(`http://${p.status.podIP}:8080`).catch(() => 0)
        : 0,
    })),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`[demo] the spill-over step failed: ${(err as Error).message}\n`);
  process.exit(1);
});
