/**
 * The Prometheus text exposition format, read: one parser for every place that reads /metrics (the
 * operator's load source, tests, benchmarks).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m?.[1]) continue;
    const labels: Record<string, string> = {};
    for (const [, k = "", v = ""] of (m[2] ?? "").matchAll(LABEL))
      labels[k] = v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of every sample of a metric whose labels include `match` (0 when there is none). */
export function sumOf(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** True when the text has at least one sample of the metric. */
export function has(samples: Sample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}
