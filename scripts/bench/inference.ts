/**
 * npm run bench:inference [-- --runs 3 --tokens 64 --levels 1,2,4,8 --weights F16|Q8_0|Q4_K --model FILE --json FILE --quick]
 *
 * Measures the inference server against two baselines with the same settings, on the smollm2-135m-shape
 * fixture: in-process node-llama-cpp generation (the limit through this engine) and llama.cpp's own
 * `llama-server` on the same GGUF (what a user would run instead; `npm run tools -- llama-server` builds
 * it from the llama.cpp source node-llama-cpp carries, and the column is left out when it is not built).
 * Aggregate tokens/s and TTFT p50/p95 at concurrency 1, 2, 4, 8, each as a ratio to the baselines;
 * medians over --runs runs, the three alternating so drift hits all of them. Also: llama.cpp thread counts in-process, and /health
 * requests/s with autocannon. Prints a markdown table for BENCHMARKS.md and JSON to --json FILE, whose
 * `ratios` the regression gate reads (scripts/bench/gate.ts). --quick leaves out the thread sweep and
 * /health and llama-server and sends 5 single requests for TTFT instead of 20: the gate's cheap variant.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { getLlama, LlamaCompletion, LlamaLogLevel, type LlamaContext, type LlamaModel } from "node-llama-cpp";
import { WEIGHTS, writeModel, type Weights } from "../../src/lib/gguf-fixture.js";
import { repoRoot } from "../../src/lib/paths.js";
import { writeReport, type Ratios } from "../../src/lib/bench-ratios.js";
import { median, percentile } from "../../src/lib/stats.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    tokens: { type: "string", default: "64" },
    model: { type: "string" },
    weights: { type: "string", default: "F16" },
    json: { type: "string" },
    levels: { type: "string", default: "1,2,4,8" },
    quick: { type: "boolean", default: false },
  },
});
if (!(WEIGHTS as readonly string[]).includes(args.weights)) {
  process.stderr.write(`--weights must be one of ${WEIGHTS.join(", ")}\n`);
  process.exit(3);
}
const WEIGHT_TYPE = args.weights as Weights;
const RUNS = Number(args.runs);
const TOKENS = Number(args.tokens);
const LEVELS = args.levels.split(",").map(Number);
const PARALLEL = Math.max(...LEVELS);
const CONTEXT = 512;
const PORT = 18_500 + Math.floor(Math.random() * 1000);
const URL_BASE = `http://127.0.0.1:${PORT}`;
const LLAMA_URL = `http://127.0.0.1:${PORT + 1}`;

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

interface Sample {
  tokensPerSecond: number;
  ttft: number[];
}

// Each request's prompt is new (same length), so neither server answers from a cached prompt.
let sent = 0;
const prompt = (i: number) =>
  `request ${i}-${(sent++ % 90) + 10}: the model server spills the burst load onto spot nodes when the base is busy`;

/** c concurrent streaming completions against an OpenAI-compatible server; tokens/s and client-side TTFT. */
async function serverRound(c: number, maxTokens = TOKENS, base = URL_BASE): Promise<Sample> {
  const ttft: number[] = [];
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: c }, async (_, i) => {
      const t0 = performance.now();
      const res = await fetch(`${base}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "model",
          prompt: prompt(i),
          max_tokens: maxTokens,
          temperature: 0,
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let first = true;
      let buffer = "";
      let tokens = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        if (first) {
          ttft.push(performance.now() - t0);
          first = false;
        }
        buffer += decoder.decode(r.value, { stream: true });
      }
      let chunks = 0;
      for (const line of buffer.split("\n\n")) {
        if (!line.startsWith("data: {")) continue;
        const event = JSON.parse(line.slice(6)) as {
          usage?: { completion_tokens: number } | null;
          choices?: { text?: string }[];
        };
        if (event.usage) tokens = event.usage.completion_tokens;
        if (event.choices?.[0]?.text) chunks++;
      }
      // Both servers send usage when asked; one text event per token is the fallback.
      return tokens || chunks;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { tokensPerSecond: counts.reduce((a, b) => a + b, 0) / seconds, ttft };
}

/** The same work in-process: c sequences of one context generating at once. */
async function baselineRound(
  model: LlamaModel,
  context: LlamaContext,
  c: number,
  maxTokens = TOKENS,
): Promise<Sample> {
  const ttft: number[] = [];
  const sequences = Array.from({ length: c }, () => context.getSequence());
  try {
    const started = performance.now();
    const counts = await Promise.all(
      sequences.map(async (sequence, i) => {
        const completion = new LlamaCompletion({ contextSequence: sequence });
        const t0 = performance.now();
        let tokens = 0;
        let sawText = false;
        await completion.generateCompletion(model.tokenize(prompt(i)), {
          maxTokens,
          temperature: 0,
          repeatPenalty: false,
          disableContextShift: true,
          onToken: (t) => {
            tokens += t.length;
          },
          // What a client sees first is text, as with the server's first SSE event.
          onTextChunk: () => {
            if (!sawText) ttft.push(performance.now() - t0);
            sawText = true;
          },
        });
        return tokens;
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { tokensPerSecond: counts.reduce((a, b) => a + b, 0) / seconds, ttft };
  } finally {
    for (const s of sequences) void s.dispose();
  }
}

async function startServer(modelPath: string, threads: number) {
  const child = spawn(
    join(repoRoot, "node_modules", ".bin", "tsx"),
    [join(repoRoot, "src/inference/main.ts"), "--model", modelPath, "--model-id", "model"]
      .concat(["--port", String(PORT), "--parallel", String(PARALLEL), "--context-size", String(CONTEXT)])
      .concat(["--threads", String(threads), "--log-level", "warn"]),
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  return await whenReady(child, `${URL_BASE}/ready`, "server");
}

/** Resolves with the child once `url` answers 200 (polled for up to 2 minutes); kills it otherwise. */
async function whenReady(child: ChildProcess, url: string, what: string): Promise<ChildProcess> {
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error(`${what} did not become ready`);
}

/** llama.cpp's server with the same slots and context, or undefined when it is not built. */
async function startLlamaServer(modelPath: string) {
  const bin = join(repoRoot, ".tools", "bin", "llama-server");
  if (!existsSync(bin)) {
    log("llama-server is not built (`npm run tools -- llama-server`): its columns are left out");
    return undefined;
  }
  const child = spawn(
    bin,
    ["-m", modelPath, "-c", String(CONTEXT * PARALLEL), "-np", String(PARALLEL)].concat([
      "--host",
      "127.0.0.1",
      "--port",
      String(PORT + 1),
      "--no-webui",
      "--log-disable",
      // This llama.cpp's weight repacking crashes the -march=native build on the quantized fixtures
      // (segfault while loading, AVX-512/AMX machine); node-llama-cpp's prebuilt variant loads them.
      ...(WEIGHT_TYPE === "F16" ? [] : ["--no-repack"]),
    ]),
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return await whenReady(child, `${LLAMA_URL}/health`, "llama-server");
}

async function main() {
  const suffix = WEIGHT_TYPE === "F16" ? "" : `-${WEIGHT_TYPE}`;
  const modelPath = args.model ?? join(tmpdir(), "spillway-fixtures", `smollm2-135m-shape-42${suffix}.gguf`);
  if (!existsSync(modelPath)) {
    mkdirSync(join(tmpdir(), "spillway-fixtures"), { recursive: true });
    log(`writing the smollm2-135m-shape fixture (${WEIGHT_TYPE}) to ${modelPath}`);
    writeModel(modelPath, "smollm2-135m-shape", 42, WEIGHT_TYPE === "F16" ? undefined : WEIGHT_TYPE);
  }
  const cpus = availableParallelism();
  const llama = await getLlama({ build: "never", gpu: false, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });

  // 1. Threads: in-process, one stream and a batch of 4, with 1..cpus threads.
  const threadModes = args.quick ? [] : Array.from({ length: cpus }, (_, i) => `${i + 1}`);
  const threadRows: { mode: string; c: number; tps: number }[] = [];
  for (const mode of threadModes) {
    const ctx = await model.createContext({
      contextSize: CONTEXT * PARALLEL,
      sequences: PARALLEL,
      threads: parseInt(mode, 10),
    });
    for (const c of [1, 4]) {
      const tps: number[] = [];
      for (let r = 0; r < RUNS; r++) tps.push((await baselineRound(model, ctx, c)).tokensPerSecond);
      threadRows.push({ mode, c, tps: median(tps) });
      log(`threads=${mode} c=${c}: ${median(tps).toFixed(1)} tok/s`);
    }
    await ctx.dispose();
  }
  // The server picks its threads itself (threads.ts, --threads 0); the baseline does the same.
  const { chooseThreads } = await import("../../src/inference/threads.js");
  const threads = chooseThreads({
    configured: 0,
    embedding: model.embeddingVectorSize,
    cpus,
  });
  log(`server and baseline use ${threads} thread(s)`);

  // 2. Server vs in-process, alternating.
  const server = await startServer(modelPath, 0);
  // The quick variant is the CI gate's: llama-server is not built there.
  const llamaServer = args.quick
    ? undefined
    : await startLlamaServer(modelPath).catch((err: unknown) => {
        // Nothing may stay running when the reference fails to start.
        server.kill("SIGTERM");
        throw err;
      });
  const context = await model.createContext({
    contextSize: CONTEXT * PARALLEL,
    sequences: PARALLEL,
    threads,
  });
  const results: Record<number, { server: Sample[]; base: Sample[]; llama: Sample[] }> = {};
  try {
    await serverRound(1); // warm the HTTP path
    if (llamaServer) await serverRound(1, TOKENS, LLAMA_URL);
    for (let r = 0; r < RUNS; r++) {
      for (const c of LEVELS) {
        results[c] ??= { server: [], base: [], llama: [] };
        results[c].server.push(await serverRound(c));
        results[c].base.push(await baselineRound(model, context, c));
        if (llamaServer) results[c].llama.push(await serverRound(c, TOKENS, LLAMA_URL));
        log(
          `run ${r + 1}/${RUNS} c=${c}: server ${results[c].server.at(-1)!.tokensPerSecond.toFixed(1)} tok/s, in-process ${results[c].base.at(-1)!.tokensPerSecond.toFixed(1)} tok/s` +
            (llamaServer
              ? `, llama-server ${results[c].llama.at(-1)!.tokensPerSecond.toFixed(1)} tok/s`
              : ""),
        );
      }
    }
    // 3. TTFT overhead: single requests one at a time, server and in-process interleaved.
    const ttftServer: number[] = [];
    const ttftBase: number[] = [];
    const ttftLlama: number[] = [];
    const singles = args.quick ? 5 : 20;
    for (let i = 0; i < singles; i++) {
      ttftServer.push(...(await serverRound(1, 4)).ttft);
      ttftBase.push(...(await baselineRound(model, context, 1, 4)).ttft);
      if (llamaServer) ttftLlama.push(...(await serverRound(1, 4, LLAMA_URL)).ttft);
    }
    const ttftOverhead = { server: percentile(ttftServer, 50), base: percentile(ttftBase, 50) };
    const ttftLlamaP50 = ttftLlama.length ? percentile(ttftLlama, 50) : undefined;
    log(
      `TTFT p50 single requests: server ${ttftOverhead.server.toFixed(1)} ms, in-process ${ttftOverhead.base.toFixed(1)} ms`,
    );

    // 4. /health throughput, bounded in time and connections.
    const health = args.quick
      ? undefined
      : await autocannon({ url: `${URL_BASE}/health`, connections: 10, duration: 5 });
    const rows = LEVELS.map((c) => {
      const s = results[c]!.server;
      const b = results[c]!.base;
      const tps = median(s.map((x) => x.tokensPerSecond));
      const btps = median(b.map((x) => x.tokensPerSecond));
      const p50 = median(s.map((x) => percentile(x.ttft, 50)));
      const p95 = median(s.map((x) => percentile(x.ttft, 95)));
      const bp50 = median(b.map((x) => percentile(x.ttft, 50)));
      const bp95 = median(b.map((x) => percentile(x.ttft, 95)));
      const l = results[c]!.llama;
      const ltps = l.length ? median(l.map((x) => x.tokensPerSecond)) : undefined;
      const lp50 = l.length ? median(l.map((x) => percentile(x.ttft, 50))) : undefined;
      return { c, tps, btps, ratio: tps / btps, p50, p95, bp50, bp95, overhead: p50 - bp50, ltps, lp50 };
    });
    const one = rows.find((r) => r.c === 1);
    const four = rows.find((r) => r.c === 4);
    const lines = [
      `model: smollm2-135m-shape fixture (F16, ${model.embeddingVectorSize} embd), ${TOKENS} tokens per request, temperature 0,` +
        ` context ${CONTEXT}/slot, ${PARALLEL} slots, ${threads} thread(s), median of ${RUNS} runs, ${cpus} CPUs`,
      "",
      "| concurrency | server tok/s | in-process tok/s | ratio | TTFT p50 server / in-process (ms) | TTFT p95 server / in-process (ms) | TTFT p50 overhead (ms) |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      ...rows.map(
        (r) =>
          `| ${r.c} | ${r.tps.toFixed(1)} | ${r.btps.toFixed(1)} | ${r.ratio.toFixed(3)} | ${r.p50.toFixed(1)} / ${r.bp50.toFixed(1)} | ${r.p95.toFixed(1)} / ${r.bp95.toFixed(1)} | ${r.overhead.toFixed(1)} |`,
      ),
      "",
      ...(llamaServer
        ? [
            "| concurrency | server tok/s | llama-server tok/s | ratio server ÷ llama-server | TTFT p50 server / llama-server (ms) |",
            "| --- | --- | --- | --- | --- |",
            ...rows.map(
              (r) =>
                `| ${r.c} | ${r.tps.toFixed(1)} | ${r.ltps?.toFixed(1) ?? "-"} | ${r.ltps ? (r.tps / r.ltps).toFixed(2) : "-"} | ${r.p50.toFixed(1)} / ${r.lp50?.toFixed(1) ?? "-"} |`,
            ),
            `TTFT p50 of ${singles} single requests (4 tokens each): server ${ttftOverhead.server.toFixed(1)} ms, llama-server ${ttftLlamaP50?.toFixed(1) ?? "-"} ms`,
            "",
          ]
        : []),
      one && four ? `aggregate at 4 vs 1 (server): ${(four.tps / one.tps).toFixed(2)}x` : "",
      `TTFT p50 of ${singles} single requests (4 tokens each), interleaved: server ${ttftOverhead.server.toFixed(1)} ms, in-process ${ttftOverhead.base.toFixed(1)} ms, overhead ${(ttftOverhead.server - ttftOverhead.base).toFixed(1)} ms`,
      health
        ? `/health: ${Math.round(health.requests.average)} requests/s (autocannon, 10 connections, 5 s; p99 latency ${health.latency.p99} ms)`
        : "",
      "",
      ...(threadModes.length
        ? [
            "| llama.cpp threads | in-process tok/s, 1 stream | in-process tok/s, 4 streams |",
            "| --- | --- | --- |",
            ...threadModes.map(
              (m) =>
                `| ${m} | ${threadRows.find((r) => r.mode === m && r.c === 1)!.tps.toFixed(1)} | ${threadRows.find((r) => r.mode === m && r.c === 4)!.tps.toFixed(1)} |`,
            ),
          ]
        : []),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    const ratios: Ratios = {
      "TTFT p50 server ÷ in-process": { value: ttftOverhead.server / ttftOverhead.base, better: "lower" },
    };
    for (const r of rows) {
      ratios[`tok/s server ÷ in-process, ${r.c} stream${r.c === 1 ? "" : "s"}`] = {
        value: r.ratio,
        better: "higher",
      };
      if (r.ltps)
        ratios[`tok/s server ÷ llama-server, ${r.c} stream${r.c === 1 ? "" : "s"}`] = {
          value: r.tps / r.ltps,
          better: "higher",
        };
    }
    writeReport(args.json, ratios, { rows, threadRows, health: health?.requests });
  } finally {
    server.kill("SIGTERM");
    llamaServer?.kill("SIGTERM");
    await context.dispose();
    await model.dispose();
  }
}

await main();
