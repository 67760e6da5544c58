import { relative } from "node:path";

/**
 * `spillway test --json`: one report over every tier that was asked for. Pure: built from vitest's own
 * JSON reports and from what the runner found about tiers that could not run.
 */

export type TestStatus = "passed" | "failed" | "skipped";

export interface TestEntry {
  tier: string;
  file: string;
  name: string;
  status: TestStatus;
  /** Milliseconds. */
  duration: number;
  error: string | null;
}

export interface TierResult {
  tier: string;
  /** "not-run": the tier could not start here; `reason` says why and `exitCode` what that means. */
  status: "passed" | "failed" | "not-run";
  exitCode: ExitCode;
  reason: string | null;
  /** Seconds. */
  duration: number;
}

export type ExitCode = 0 | 1 | 2 | 3;

export interface TestReport {
  summary: {
    total: number;
    passed: number;
    failed: number;
    skipped: number;
    notRun: number;
    duration: number;
  };
  exitCode: ExitCode;
  tiers: TierResult[];
  tests: TestEntry[];
  load_test?: unknown;
}

/** The part of vitest's JSON reporter output the report reads. */
export interface VitestJson {
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: {
      fullName: string;
      status: string;
      duration?: number | null;
      failureMessages?: string[];
    }[];
  }[];
}

const STATUS: Record<string, TestStatus> = { passed: "passed", failed: "failed" };

/** One entry per test; a file that failed before any test ran (an import, a hook) is one failed entry. */
export function testsOf(tier: string, json: VitestJson, root: string): TestEntry[] {
  return json.testResults.flatMap((file) => {
    const path = relative(root, file.name);
    const entries = file.assertionResults.map((t): TestEntry => ({
      tier,
      file: path,
      name: t.fullName,
      status: STATUS[t.status] ?? "skipped",
      duration: Math.round(t.duration ?? 0),
      error: t.failureMessages?.length ? firstLines(t.failureMessages.join("\n")) : null,
    }));
    if (file.status === "failed" && !entries.some((e) => e.status === "failed")) {
      entries.push({
        tier,
        file: path,
        name: "(file)",
        status: "failed",
        duration: 0,
        error: firstLines(file.message ?? "the file failed outside any test"),
      });
    }
    return entries;
  });
}

const firstLines = (text: string, n = 8) => text.split("\n").slice(0, n).join("\n");

/** 3 configuration beats 2 unreachable beats 1 failed: the most basic problem is the one to fix first. */
export function overallExit(tiers: readonly TierResult[]): ExitCode {
  return tiers.reduce<ExitCode>((worst, t) => (t.exitCode > worst ? t.exitCode : worst), 0);
}

export function buildReport(
  tiers: TierResult[],
  tests: TestEntry[],
  duration: number,
  loadTest?: unknown,
): TestReport {
  const count = (s: TestStatus) => tests.filter((t) => t.status === s).length;
  return {
    summary: {
      total: tests.length,
      passed: count("passed"),
      failed: count("failed"),
      skipped: count("skipped"),
      notRun: tiers.filter((t) => t.status === "not-run").length,
      duration: Math.round(duration * 10) / 10,
    },
    exitCode: overallExit(tiers),
    tiers,
    tests,
    ...(loadTest === undefined ? {} : { load_test: loadTest }),
  };
}
