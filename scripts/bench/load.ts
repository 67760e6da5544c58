/**
 * `spillway load` against the inference server and llama.cpp's llama-server on the same GGUF, with the
 * same slots and context: what a user sees from each under a mixed, bounded load. Runs alternate
 * (server, llama-server, server, …) so drift hits both; medians over --runs.
 *
 *   npm run bench:load -- [--runs 3] [--users 4] [--duration 20] [--max-tokens 32]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateLoad } from "../../src/cli/load/generator.js";
import { summarize, type LoadReport } from "../../src/cli/load/report.js";
import { repoRoot } from "../../src/lib/paths.js";
import { writeModel } from "../../src/lib/gguf-fixture.js";
import { median } from "../../src/lib/stats.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    users: { type: "string", default: "4" },
    duration: { type: "string", default: "20" },
    "max-tokens": { type: "string", default: "32" },
  },
});
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const PARALLEL = 4;
const CONTEXT = 512;
const PORT = 18_600 + Math.floor(Math.random() * 1000);

async function ready(child: ChildProcess, url: string): Promise<ChildProcess> {
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(url).then(
        (r) => r.status === 200,
        () => false,
      )
    )
      return child;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error(`${url} did not answer`);
}

async function main() {
  const model = join(tmpdir(), "spillway-fixtures", "smollm2-135m-shape-42.gguf");
  if (!existsSync(model)) {
    mkdirSync(join(tmpdir(), "spillway-fixtures"), { recursive: true });
    writeModel(model, "smollm2-135m-shape");
  }
  const llamaBin = join(repoRoot, ".tools", "bin", "llama-server");
  if (!existsSync(llamaBin)) throw new Error("llama-server is not built: npm run tools -- llama-server");
  const targets = [
    {
      name: "spillway",
      url: `http://127.0.0.1:${PORT}`,
      start: () =>
        spawn(
          join(repoRoot, "node_modules", ".bin", "tsx"),
          [
            join(repoRoot, "src/inference/main.ts"),
            "--model",
            model,
            "--model-id",
            "model",
            "--port",
            String(PORT),
          ].concat([
            "--parallel",
            String(PARALLEL),
            "--context-size",
            String(CONTEXT),
            "--log-level",
            "warn",
          ]),
          { stdio: ["ignore", "ignore", "inherit"] },
        ),
      health: "/ready",
    },
    {
      name: "llama-server",
      url: `http://127.0.0.1:${PORT + 1}`,
      start: () =>
        spawn(
          llamaBin,
          ["-m", model, "-c", String(CONTEXT * PARALLEL), "-np", String(PARALLEL), "--alias", "model"].concat(
            ["--host", "127.0.0.1", "--port", String(PORT + 1), "--no-webui", "--log-disable"],
          ),
          { stdio: ["ignore", "ignore", "inherit"] },
        ),
      health: "/health",
    },
  ];
  const results = new Map<string, LoadReport[]>(targets.map((t) => [t.name, []]));
  for (let run = 1; run <= Number(args.runs); run++) {
    for (const t of targets) {
      // One server at a time: on 2 cores, the idle one would still take memory bandwidth and cache.
      const child = await ready(t.start(), `${t.url}${t.health}`);
      try {
        const o = {
          url: t.url,
          model: "model",
          users: Number(args.users),
          rampSeconds: 2,
          durationSeconds: Number(args.duration),
          maxRequests: 100_000,
          thinkMs: 100,
          maxTokens: Number(args["max-tokens"]),
          timeoutMs: 120_000,
        };
        const { samples, durationSeconds } = await generateLoad(o);
        const r = summarize(samples, { ...o, durationSeconds });
        results.get(t.name)?.push(r);
        log(
          `run ${run} ${t.name}: ${r.requestsPerSecond} req/s, ${r.tokensPerSecond} tok/s, p95 ${r.latencyMs.p95} ms, errors ${r.requests.errors}`,
        );
      } finally {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
    }
  }
  const row = (name: string) => {
    const rs = results.get(name) ?? [];
    const m = (f: (r: LoadReport) => number) => median(rs.map(f));
    return {
      rps: m((r) => r.requestsPerSecond),
      tps: m((r) => r.tokensPerSecond),
      p50: m((r) => r.latencyMs.p50),
      p95: m((r) => r.latencyMs.p95),
      ttft50: m((r) => r.ttftMs.p50),
      ttft95: m((r) => r.ttftMs.p95),
      errors: m((r) => r.requests.errors),
    };
  };
  const s = row("spillway");
  const l = row("llama-server");
  const fmt = (x: number) => x.toFixed(1);
  console.log(
    `\n${args.users} users, think 100 ms, ${args.duration} s, max_tokens ${args["max-tokens"]}, ${PARALLEL} slots × ${CONTEXT} tokens, medians of ${args.runs} runs\n`,
  );
  console.log("| server | req/s | tok/s | latency p50 / p95 (ms) | TTFT p50 / p95 (ms) | errors |");
  console.log("| ------ | ----- | ----- | ---------------------- | ------------------- | ------ |");
  for (const [name, r] of [
    ["spillway", s],
    ["llama-server", l],
  ] as const) {
    console.log(
      `| ${name} | ${fmt(r.rps)} | ${fmt(r.tps)} | ${fmt(r.p50)} / ${fmt(r.p95)} | ${fmt(r.ttft50)} / ${fmt(r.ttft95)} | ${r.errors} |`,
    );
  }
  console.log(
    `\nspillway ÷ llama-server: tok/s ${(s.tps / l.tps).toFixed(2)}, req/s ${(s.rps / l.rps).toFixed(2)}`,
  );
}

await main();
