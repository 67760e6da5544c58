import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoadReport } from "../../src/cli/load/report.js";
import { fixtureModel } from "../helpers/fixture-model.js";
import { spawnServer, waitReady, type ServerProcess } from "../helpers/inference.js";
import { spawnTs } from "../helpers/process.js";

/**
 * `spillway load` as a user runs it, against the real inference server on the fixture model. The
 * sustainable run's report is also the `load_test` section of `spillway test --json` (SPILLWAY_LOAD_REPORT).
 */

const dir = mkdtempSync(join(tmpdir(), "spillway-load-"));
const reportPath = process.env.SPILLWAY_LOAD_REPORT ?? join(dir, "sustainable.json");

async function load(args: string[]): Promise<{ code: number | null; output: string }> {
  const p = spawnTs("src/cli/main.ts", ["load", ...args], {});
  const code = await p.exit;
  return { code, output: p.output() };
}

const readReport = (path: string) => JSON.parse(readFileSync(path, "utf8")) as LoadReport;

/** The arithmetic every report must satisfy, whatever the run. */
function expectConsistent(r: LoadReport) {
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  expect(r.requests.ok + r.requests.cancelled + r.requests.errors).toBe(r.requests.total);
  expect(sum(r.requests.byStatus)).toBe(r.requests.total);
  expect(sum(r.requests.byKind)).toBe(r.requests.total);
  expect(r.errorRate).toBeCloseTo(r.requests.errors / r.requests.total, 3);
  for (const p of [r.latencyMs, r.ttftMs]) {
    expect(p.p50).toBeLessThanOrEqual(p.p95);
    expect(p.p95).toBeLessThanOrEqual(p.p99);
    expect(p.p99).toBeLessThanOrEqual(p.max);
  }
}

describe("spillway load against the real server", () => {
  let roomy: ServerProcess;
  let tight: ServerProcess;
  beforeAll(async () => {
    roomy = spawnServer(["--model", fixtureModel(), "--parallel", "4", "--log-level", "warn"]);
    // One slot and a queue of one: a crowd of users must see 429s.
    tight = spawnServer([
      "--model",
      fixtureModel(),
      "--parallel",
      "1",
      "--max-queue",
      "1",
      "--log-level",
      "warn",
    ]);
    await Promise.all([waitReady(roomy.url), waitReady(tight.url)]);
  });
  afterAll(async () => {
    for (const s of [roomy, tight]) s.child.kill("SIGTERM");
    await Promise.all([roomy.exit, tight.exit]);
  });

  it("a sustainable rate with cancellations: no errors, the mix and the counts add up, stops by itself", async () => {
    const t0 = performance.now();
    const { code, output } = await load([
      ...["--url", roomy.url, "--users", "3", "--ramp", "1", "--duration", "6", "--think-ms", "200"],
      ...["--cancel-ratio", "0.25", "--fail-if", "error_rate>0", "--json", reportPath],
    ]);
    expect(code, output).toBe(0);
    expect((performance.now() - t0) / 1000).toBeLessThan(6 + 15);
    const r = readReport(reportPath);
    expectConsistent(r);
    expect(r.model).toBe("tiny-42");
    expect(r.requests.total).toBeGreaterThan(10);
    expect(r.errorRate).toBe(0);
    // A quarter of the streams are abandoned after their first text; the server takes that in its stride.
    expect(r.requests.cancelled).toBeGreaterThan(0);
    expect(r.requests.byStatus.cancelled).toBe(r.requests.cancelled);
    expect(Object.keys(r.requests.byKind).sort()).toEqual([
      "chat",
      "chat+stream",
      "completion",
      "completion+stream",
    ]);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
    expect(r.ttftMs.p50).toBeGreaterThan(0);
    expect(r.ttftMs.p50).toBeLessThanOrEqual(r.latencyMs.max);
    expect(r.durationSeconds).toBeGreaterThanOrEqual(5);
    expect(output).toContain("[load]");
  });

  it("--max-requests bounds the run before the duration does", async () => {
    const path = join(dir, "bounded.json");
    const { code } = await load([
      "--url",
      roomy.url,
      "--users",
      "2",
      "--duration",
      "60",
      "--max-requests",
      "6",
      "--json",
      path,
    ]);
    expect(code).toBe(0);
    const r = readReport(path);
    expect(r.requests.total).toBe(6);
    expect(r.durationSeconds).toBeLessThan(30);
  });

  it("a full queue: 429s count as errors, and the gate fails the run with exit 1", async () => {
    const path = join(dir, "overload.json");
    const { code, output } = await load([
      ...["--url", tight.url, "--users", "8", "--ramp", "0", "--duration", "3", "--think-ms", "20"],
      ...["--max-tokens", "48", "--fail-if", "error_rate>0.01", "--json", path],
    ]);
    expect(code, output).toBe(1);
    expect(output).toContain("gate tripped: error_rate>0.01");
    const r = readReport(path);
    expectConsistent(r);
    expect(r.requests.byStatus["429"]).toBeGreaterThan(0);
    expect(r.requests.byStatus["200"]).toBeGreaterThan(0);
    expect(r.requests.errors).toBe(r.requests.byStatus["429"]);
  });

  it("refuses a remote address without --allow-remote, and sends nothing", async () => {
    const { code, output } = await load(["--url", "http://192.0.2.10:8080"]);
    expect(code).toBe(3);
    expect(output).toContain("not a loopback address (192.0.2.10)");
    expect(output).toContain("--allow-remote");
  });

  it("a URL where nothing answers is exit 2; a bad flag is exit 3", async () => {
    const nothing = await load(["--url", "http://127.0.0.1:19"]);
    expect(nothing.code).toBe(2);
    expect(nothing.output).toMatch(/nothing answers at http:\/\/127\.0\.0\.1:19/);
    const bad = await load(["--url", roomy.url, "--users", "many"]);
    expect(bad.code).toBe(3);
    expect(bad.output).toContain("--users must be an integer >= 1, got 'many'");
  });
});
