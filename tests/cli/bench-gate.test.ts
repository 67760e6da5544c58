import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Baseline } from "../../src/lib/bench-ratios.js";
import { spawnTs } from "../helpers/process.js";

// The regression gate against the committed baseline, fed reports with --from: the same comparison CI
// makes after running the benchmark, with each exit code produced by a real situation.
const dir = mkdtempSync(join(tmpdir(), "spillway-gate-"));
const baseline = JSON.parse(readFileSync("benchmarks/inference-quick.json", "utf8")) as Baseline;

async function gate(args: string[]) {
  const p = spawnTs("scripts/bench/gate.ts", args, {});
  return { code: await p.exit, output: p.output() };
}

/** A report with every baseline ratio, one of them scaled in its worse direction. */
function report(name: string, worseBy: number): string {
  const ratios = Object.fromEntries(
    Object.entries(baseline.entries).map(([k, e]) => {
      const f = k === name ? (e.better === "higher" ? 1 - worseBy : 1 + worseBy) : 1;
      return [k, { value: e.value * f, better: e.better }];
    }),
  );
  const path = join(dir, `${name.replace(/\W+/g, "-")}-${worseBy}.json`);
  writeFileSync(path, JSON.stringify({ ratios }));
  return path;
}

describe("bench:gate", () => {
  const [first, second] = Object.keys(baseline.entries);

  it("passes a run at the baseline: exit 0", async () => {
    const { code, output } = await gate(["inference-quick", "--from", report(first!, 0)]);
    expect(code, output).toBe(0);
    expect(output).toContain("every ratio within its noise");
  });

  it("fails a ratio worse than its noise: exit 1, naming it", async () => {
    const noise = baseline.entries[second!]!.noise;
    const { code, output } = await gate(["inference-quick", "--from", report(second!, noise + 0.05)]);
    expect(code, output).toBe(1);
    expect(output).toMatch(/REGRESSION/);
    expect(output).toContain(`${second} worse than the baseline`);
  });

  it("refuses an unknown benchmark: exit 3", async () => {
    const { code, output } = await gate(["nonsense"]);
    expect(code).toBe(3);
    expect(output).toContain("name one benchmark: inference-quick, inference, burst, operator");
  });

  it("a benchmark without a baseline says how to record one: exit 3", async () => {
    const missing = join(dir, "no-baseline.json");
    const { code, output } = await gate(["operator", "--from", report(first!, 0), "--baseline", missing]);
    expect(code).toBe(3);
    expect(output).toContain("npm run bench:gate -- operator --record 5");
  });
});
