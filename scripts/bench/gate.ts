/**
 * npm run bench:gate -- <bench> [--record N] [--from FILE] [--baseline FILE]
 *
 * The benchmark regression gate. Runs a benchmark once and compares its ratios with the committed
 * baseline in benchmarks/<bench>.json: exit 1 when a ratio is worse by more than the noise recorded with
 * it. `--record N` runs the benchmark N times and writes the baseline (each ratio's median and spread);
 * `--from FILE` compares a report already written by the benchmark's --json. Exit 3 for a bad bench name
 * or a missing baseline, 2 when the benchmark itself fails to run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../../src/lib/paths.js";
import { compare, readRatios, record, type Baseline, type Ratios } from "../../src/lib/bench-ratios.js";

/** Each gate: an npm script and its arguments. `inference-quick` is the one CI runs (about 20 s). */
const BENCHES: Record<string, string[]> = {
  "inference-quick": ["bench:inference", "--quick", "--levels", "1,4", "--runs", "5", "--tokens", "32"],
  inference: ["bench:inference", "--runs", "3"],
  burst: ["bench:burst", "--runs", "3"],
  operator: ["bench:operator"],
};

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { record: { type: "string" }, from: { type: "string" }, baseline: { type: "string" } },
});
const name = positionals[0] ?? "";
const command = BENCHES[name];
if (!command || positionals.length > 1) {
  process.stderr.write(`bench:gate: name one benchmark: ${Object.keys(BENCHES).join(", ")}\n`);
  process.exit(3);
}
const [script, ...scriptArgs] = command;
const commandLine = `npm run ${script} -- ${scriptArgs.join(" ")}`;
const baselineFile = args.baseline ?? join(repoRoot, "benchmarks", `${name}.json`);

function run(): Ratios {
  const out = join(mkdtempSync(join(tmpdir(), "spillway-gate-")), "report.json");
  process.stderr.write(`[gate] ${commandLine} --json ${out}\n`);
  // The benchmark's own table goes to stderr: stdout is the verdict.
  const r = spawnSync("npm", ["run", "-s", script!, "--", ...scriptArgs, "--json", out], {
    cwd: repoRoot,
    stdio: ["ignore", process.stderr, process.stderr],
  });
  if (r.status !== 0 || !existsSync(out)) {
    process.stderr.write(`bench:gate: ${commandLine} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(2);
  }
  return readRatios(out);
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

if (args.record) {
  const runs = Array.from({ length: Number(args.record) }, run);
  const baseline: Baseline = {
    bench: name,
    command: commandLine,
    recorded: new Date().toISOString().slice(0, 10),
    entries: record(runs),
  };
  mkdirSync(dirname(baselineFile), { recursive: true });
  writeFileSync(baselineFile, `${JSON.stringify(baseline, null, 2)}\n`);
  process.stdout.write(`| ratio | median | noise (spread of ${runs.length} runs) |\n| --- | --- | --- |\n`);
  for (const [k, e] of Object.entries(baseline.entries)) {
    process.stdout.write(`| ${k} | ${e.value.toFixed(3)} | ${pct(e.noise)} |\n`);
  }
  process.stdout.write(`baseline written to ${baselineFile}\n`);
  process.exit(0);
}

if (!existsSync(baselineFile)) {
  process.stderr.write(
    `bench:gate: no baseline for ${name}: record one with \`npm run bench:gate -- ${name} --record 5\`\n`,
  );
  process.exit(3);
}
const baseline = JSON.parse(readFileSync(baselineFile, "utf8")) as Baseline;
const fresh = args.from ? readRatios(args.from) : run();
const verdicts = compare(baseline.entries, fresh);
process.stdout.write(
  `| ratio | baseline | now | worse by | allowed | |\n| --- | --- | --- | --- | --- | --- |\n`,
);
for (const v of verdicts) {
  process.stdout.write(
    `| ${v.name} | ${v.baseline.toFixed(3)} | ${v.fresh?.toFixed(3) ?? "not measured"} | ${Number.isFinite(v.worse) ? pct(v.worse) : "-"} | ${pct(v.allowed)} | ${v.ok ? "ok" : "REGRESSION"} |\n`,
  );
}
const failed = verdicts.filter((v) => !v.ok);
if (failed.length) {
  process.stderr.write(
    `bench:gate: ${name}: ${failed.map((v) => v.name).join("; ")} worse than the baseline (${baseline.recorded}) by more than its noise\n`,
  );
  process.exit(1);
}
process.stdout.write(`${name}: every ratio within its noise of the baseline (${baseline.recorded})\n`);
