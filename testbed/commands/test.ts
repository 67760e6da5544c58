import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { UserError } from "../../src/lib/errors.js";
import { repoRoot } from "../../src/lib/paths.js";
import { writeReport } from "../../src/lib/report-file.js";
import {
  buildReport,
  testsOf,
  type ExitCode,
  type TestEntry,
  type TestReport,
  type TierResult,
  type VitestJson,
} from "../test-runner/report.js";
import { DEFAULT_TIERS, TIERS } from "../test-runner/tiers.js";

export const USAGE = `usage: spillway test [--tier TIER ...] [--filter PATTERN ...] [--json FILE]

  --tier TIER       ${Object.keys(TIERS).join(", ")} (default: ${DEFAULT_TIERS.join(", ")})
  --filter PATTERN  only test files whose path contains PATTERN (vitest's filter)
  --json FILE       write the report (summary, tiers, tests, load_test) to FILE
Exit: 0 all passed, 1 a test failed, 2 a tier's infrastructure did not answer, 3 configuration error.
`;

const FLAGS = {
  tier: { type: "string", multiple: true },
  filter: { type: "string", multiple: true },
  json: { type: "string" },
} as const;

const OUTPUT_TAIL = 64 * 1024;

/** Runs one tier's vitest project; its output goes to stderr as it comes, its tail is kept for errors. */
function vitest(tier: string, filters: string[], jsonOut: string, env: NodeJS.ProcessEnv) {
  const bin = join(repoRoot, "node_modules", ".bin", "vitest");
  const args = ["run", "--project", tier, ...filters];
  args.push("--reporter=default", "--reporter=json", `--outputFile.json=${jsonOut}`);
  const child = spawn(bin, args, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  const keep = (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  return new Promise<{ code: number; tail: string }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      resolve({ code: code ?? 1, tail });
    });
  });
}

/** The line that says why a tier stopped before any test ran (a global setup's error). */
function setupError(tail: string): string {
  // eslint-disable-next-line no-control-regex
  const lines = tail.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const error = lines.find((l) => /^\s*(\w*Error|UserError)\b.*:/.test(l));
  return (error ?? lines.filter((l) => l.trim()).at(-1) ?? "no output").trim();
}

async function runTier(
  tier: string,
  filters: string[],
  work: string,
): Promise<{ result: TierResult; tests: TestEntry[]; loadTest?: unknown }> {
  const started = performance.now();
  const seconds = () => Math.round((performance.now() - started) / 100) / 10;
  const notRun = (reason: string, exitCode: ExitCode) => {
    process.stderr.write(`[test] ${tier}: not run: ${reason}\n`);
    const result: TierResult = { tier, status: "not-run", exitCode, reason, duration: seconds() };
    return { result, tests: [] };
  };
  const blocker = await TIERS[tier]?.needs();
  if (blocker) return notRun(blocker.reason, blocker.exitCode);
  const jsonOut = join(work, `${tier}.json`);
  const loadReport = join(work, "load-test.json");
  const { code, tail } = await vitest(
    tier,
    filters,
    jsonOut,
    tier === "load" ? { SPILLWAY_LOAD_REPORT: loadReport } : {},
  );
  const json = existsSync(jsonOut) ? (JSON.parse(readFileSync(jsonOut, "utf8")) as VitestJson) : undefined;
  const tests = json ? testsOf(tier, json, repoRoot) : [];
  const loadTest = existsSync(loadReport)
    ? (JSON.parse(readFileSync(loadReport, "utf8")) as unknown)
    : undefined;
  if (code !== 0 && tests.length === 0 && /No test files found/.test(tail)) {
    return notRun(`no test file of the ${tier} tier matches --filter ${filters.join(" ")}`, 3);
  }
  if (code !== 0 && tests.length === 0) {
    // Nothing ran: the tier's own setup (a control plane, an emulator, a container API) did not come up.
    return notRun(setupError(tail), 2);
  }
  const failed = code !== 0 || tests.some((t) => t.status === "failed");
  return {
    result: {
      tier,
      status: failed ? "failed" : "passed",
      exitCode: failed ? 1 : 0,
      reason: null,
      duration: seconds(),
    },
    tests,
    loadTest,
  };
}

function parse(args: string[]) {
  let values;
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UserError(
      (err as Error).message.split("\n")[0] ?? String(err),
      "see `spillway test --help`",
      3,
    );
  }
  const tiers = values.tier?.flatMap((t) => t.split(",")) ?? DEFAULT_TIERS;
  const unknown = tiers.filter((t) => !(t in TIERS));
  if (unknown.length) {
    throw new UserError(
      `unknown tier ${unknown.join(", ")}`,
      `use one of: ${Object.keys(TIERS).join(", ")}`,
      3,
    );
  }
  return { tiers: [...new Set(tiers)], filters: values.filter ?? [], json: values.json };
}

/** `spillway test`: every asked-for tier in turn, one report, the most basic problem's exit code. */
export async function run(args: string[]): Promise<TestReport | undefined> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const { tiers, filters, json } = parse(args);
  const work = mkdtempSync(join(tmpdir(), "spillway-test-"));
  const started = performance.now();
  const results: TierResult[] = [];
  const tests: TestEntry[] = [];
  let loadTest: unknown;
  try {
    for (const tier of tiers) {
      const r = await runTier(tier, filters, work);
      results.push(r.result);
      tests.push(...r.tests);
      loadTest ??= r.loadTest;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const report = buildReport(results, tests, (performance.now() - started) / 1000, loadTest);
  if (json) writeReport(json, JSON.stringify(report, null, 2));
  for (const t of results) {
    const n = tests.filter((x) => x.tier === t.tier);
    const counts = `${n.filter((x) => x.status === "passed").length} passed, ${n.filter((x) => x.status === "failed").length} failed, ${n.filter((x) => x.status === "skipped").length} skipped`;
    process.stdout.write(
      `${t.tier.padEnd(11)} ${t.status.padEnd(8)} ${t.status === "not-run" ? (t.reason ?? "") : counts} (${t.duration} s)\n`,
    );
  }
  const s = report.summary;
  process.stdout.write(
    `total: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped, ${s.notRun} tier(s) not run in ${s.duration} s; exit ${report.exitCode}${json ? `; report: ${json}` : ""}\n`,
  );
  process.exitCode = report.exitCode;
  return report;
}
