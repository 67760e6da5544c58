import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TestReport } from "../../testbed/test-runner/report.js";
import { spawnTs } from "../helpers/process.js";

// `spillway test` as CI runs it: real vitest runs of real tiers (narrowed with --filter to stay quick),
// one JSON report, and the documented exit code for each outcome.
const dir = mkdtempSync(join(tmpdir(), "spillway-test-"));

async function spillwayTest(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = spawnTs("testbed/main.ts", ["test", ...args], env);
  const code = await p.exit;
  return { code, output: p.output() };
}
const read = (path: string) => JSON.parse(readFileSync(path, "utf8")) as TestReport;

describe("spillway test", () => {
  it("all passed: exit 0, and the report counts every test of every tier asked for", async () => {
    const path = join(dir, "pass.json");
    const { code, output } = await spillwayTest([
      ...["--tier", "unit", "--tier", "synth", "--filter", "load-report", "--filter", "config.test"],
      ...["--json", path],
    ]);
    expect(code, output).toBe(0);
    const r = read(path);
    expect(r.exitCode).toBe(0);
    expect(r.tiers.map((t) => [t.tier, t.status])).toEqual([
      ["unit", "passed"],
      ["synth", "passed"],
    ]);
    expect(r.summary.total).toBe(r.tests.length);
    expect(r.summary.passed + r.summary.failed + r.summary.skipped).toBe(r.summary.total);
    expect(r.summary.failed).toBe(0);
    expect(new Set(r.tests.map((t) => t.tier))).toEqual(new Set(["unit", "synth"]));
    const one = r.tests.find((t) => t.file === "tests/unit/cli/load-report.test.ts");
    expect(one).toMatchObject({ tier: "unit", status: "passed", error: null });
    expect(one?.name).toMatch(/^load report /);
    expect(r.load_test).toBeUndefined();
  }, 120_000);

  it("a failing test: exit 1, with the test, its file and its error in the report", async () => {
    const path = join(dir, "fail.json");
    const { code } = await spillwayTest(["--tier", "unit", "--filter", "canary", "--json", path], {
      SPILLWAY_CANARY: "fail",
    });
    expect(code).toBe(1);
    const r = read(path);
    expect(r.summary).toMatchObject({ total: 1, passed: 0, failed: 1 });
    expect(r.tiers[0]).toMatchObject({ tier: "unit", status: "failed", exitCode: 1 });
    expect(r.tests[0]).toMatchObject({ file: "tests/unit/cli/canary.test.ts", status: "failed" });
    expect(r.tests[0]?.error).toContain("asked to fail by SPILLWAY_CANARY");
  }, 120_000);

  it("configuration errors: exit 3 naming the cause, for a bad tier, a bad flag and a filter that matches nothing", async () => {
    const tier = await spillwayTest(["--tier", "integration"]);
    expect(tier.code).toBe(3);
    expect(tier.output).toContain("spillway test: unknown tier integration");
    const flag = await spillwayTest(["--teir", "unit"]);
    expect(flag.code).toBe(3);
    expect(flag.output).toContain("Unknown option '--teir'");
    const path = join(dir, "nothing.json");
    const none = await spillwayTest(["--tier", "synth", "--filter", "no-such-test-file", "--json", path]);
    expect(none.code).toBe(3);
    const r = read(path);
    expect(r.tiers[0]).toMatchObject({ tier: "synth", status: "not-run", exitCode: 3 });
    expect(r.tiers[0]?.reason).toContain("no test file of the synth tier matches --filter no-such-test-file");
    // A tier that did not run never counts as passed.
    expect(r.summary.passed).toBe(0);
  }, 120_000);

  it("an unknown command is exit 3, with the usage", async () => {
    const p = spawnTs("testbed/main.ts", ["smok"], {});
    expect(await p.exit).toBe(3);
    expect(p.output()).toContain("usage: spillway <command>");
  });

  it("the shipped command carries no test bed: no cluster, emulators or test; smoke --cloud local exits 3 saying where it runs", async () => {
    const usage = spawnTs("src/cli/main.ts", [], {});
    expect(await usage.exit).toBe(0);
    for (const c of ["serve", "smoke", "load"]) expect(usage.output()).toContain(`  ${c} `);
    for (const c of ["cluster", "emulators", "test"]) expect(usage.output()).not.toContain(`  ${c} `);
    const local = spawnTs("src/cli/main.ts", ["smoke", "--cloud", "local"], {});
    expect(await local.exit).toBe(3);
    expect(local.output()).toContain("npm run spillway -- smoke --cloud local");
  });
});
