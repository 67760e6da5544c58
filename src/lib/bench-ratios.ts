import { readFileSync, writeFileSync } from "node:fs";
import { median } from "./stats.js";

/**
 * The benchmark regression gate's arithmetic. Benchmarks write the ratios that matter (against a baseline
 * measured in the same run, so they carry from machine to machine where absolute times do not); a
 * committed baseline holds each ratio's median over several runs and its noise, the spread of those runs.
 * A fresh run fails the gate when a ratio is worse than the baseline by more than that noise.
 */

export type Better = "higher" | "lower";

export interface Ratio {
  value: number;
  better: Better;
}

export type Ratios = Record<string, Ratio>;

export interface BaselineEntry {
  value: number;
  better: Better;
  /** Relative spread of the recorded runs, (max − min) / median, at least MIN_NOISE. */
  noise: number;
  runs: number[];
}

export interface Baseline {
  bench: string;
  command: string;
  recorded: string;
  entries: Record<string, BaselineEntry>;
}

/**
 * Runs on a quiet machine understate the spread CI sees (other work beside it), and a gate that fails on
 * noise gets ignored: no tolerance is below 15 %. The regressions worth a red build are larger
 * (BENCHMARKS.md, "Regression gate", measures both).
 */
export const MIN_NOISE = 0.15;

export function record(runs: Ratios[]): Record<string, BaselineEntry> {
  const first = runs[0];
  if (!first) throw new Error("no runs to record");
  return Object.fromEntries(
    Object.entries(first).map(([name, { better }]) => {
      const values = runs.map((r) => r[name]?.value).filter((v): v is number => v !== undefined);
      const mid = median(values);
      const spread = (Math.max(...values) - Math.min(...values)) / mid;
      return [name, { value: mid, better, noise: Math.max(MIN_NOISE, spread), runs: values }];
    }),
  );
}

export interface Verdict {
  name: string;
  baseline: number;
  fresh: number | undefined;
  /** Relative change in the worse direction: 0.1 is 10 % worse, negative is better. */
  worse: number;
  allowed: number;
  ok: boolean;
}

export function compare(baseline: Record<string, BaselineEntry>, fresh: Ratios): Verdict[] {
  return Object.entries(baseline).map(([name, b]) => {
    const f = fresh[name]?.value;
    if (f === undefined)
      return { name, baseline: b.value, fresh: f, worse: Infinity, allowed: b.noise, ok: false };
    const worse = b.better === "higher" ? (b.value - f) / b.value : (f - b.value) / b.value;
    return { name, baseline: b.value, fresh: f, worse, allowed: b.noise, ok: worse <= b.noise };
  });
}

/** A benchmark's JSON report: its ratios, beside whatever else it records. */
export function writeReport(
  file: string | undefined,
  ratios: Ratios,
  rest: Record<string, unknown> = {},
): void {
  if (file) writeFileSync(file, `${JSON.stringify({ ratios, ...rest }, null, 2)}\n`);
}

export function readRatios(file: string): Ratios {
  const report = JSON.parse(readFileSync(file, "utf8")) as { ratios?: Ratios };
  if (!report.ratios) throw new Error(`${file} has no "ratios"`);
  return report.ratios;
}
