/**
 * Soak: a bounded run of the load generator against a real inference server on the fixture model, with a
 * leak gate. A mix of chat and completion requests, streamed and not, with abandoned streams and, from a
 * crowd larger than the slots and queue, 429s. Samples the server's RSS (from /proc) and V8 heap (from its
 * /metrics) every few seconds.
 *
 *   npm run soak -- [--requests 10000] [--users 12] [--max-rss-growth-mb 50] [--max-heap-growth-mb 10]
 *
 * Fails (exit 1) when RSS after warm-up grows by more than its bound, when the V8 heap does (the lowest
 * sample of the second half against the lowest of the first quarter: a leak lifts the troughs between
 * collections, while a single sample may fall anywhere on the sawtooth),
 * when slots, the queue or in-flight requests are not back to 0 at the end, or when any request got a 5xx
 * or no answer. Bounds and what they were set from: BENCHMARKS.md.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { SERVER_METRICS } from "../src/api/server.js";
import { generateLoad, type LoadOptions } from "../src/cli/load/generator.js";
import { summarize, type LoadReport } from "../src/cli/load/report.js";
import { writeReport } from "../src/lib/report-file.js";
import { parsePrometheusText, sumOf } from "../src/lib/prometheus-text.js";
import { median } from "../src/lib/stats.js";
import { fixtureModel } from "../tests/helpers/fixture-model.js";
import { spawnServer, waitReady } from "../tests/helpers/inference.js";

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "10000" },
    users: { type: "string", default: "12" },
    "warmup-requests": { type: "string", default: "300" },
    "max-rss-growth-mb": { type: "string", default: "50" },
    "max-heap-growth-mb": { type: "string", default: "10" },
    "max-seconds": { type: "string", default: "3600" },
    json: { type: "string" },
  },
});
const log = (m: string) => process.stderr.write(`[soak] ${m}\n`);
const MB = 1024 * 1024;

// 4 slots and a queue of 4: 12 users without think time keep it full, so some requests get 429.
const server = spawnServer([
  ...["--model", fixtureModel(), "--parallel", "4", "--max-queue", "4", "--context-size", "2048"],
  ...["--log-level", "warn"],
]);
const pid = server.child.pid ?? 0;

function rssBytes(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}
async function metrics() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const samples = parsePrometheusText(text);
  return {
    heap: sumOf(samples, "spillway_inference_process_nodejs_heap_size_used_bytes"),
    slotsBusy: sumOf(samples, SERVER_METRICS.slotsBusy),
    queue: sumOf(samples, SERVER_METRICS.queueDepth),
    inFlight: sumOf(samples, "spillway_inference_requests_in_flight"),
  };
}

interface Point {
  seconds: number;
  rssMb: number;
  heapMb: number;
}

async function main(): Promise<number> {
  await waitReady(server.url);
  const base: Omit<LoadOptions, "maxRequests"> = {
    url: server.url,
    model: "tiny-42",
    users: Number(args.users),
    rampSeconds: 0,
    durationSeconds: Number(args["max-seconds"]),
    thinkMs: 0,
    maxTokens: 8,
    timeoutMs: 60_000,
    cancelRatio: 0.1,
  };
  log(`warm-up: ${args["warmup-requests"]} requests`);
  await generateLoad({ ...base, maxRequests: Number(args["warmup-requests"]) });
  const rssStart = rssBytes();
  log(
    `RSS after warm-up ${(rssStart / MB).toFixed(1)} MB; soak: ${args.requests} requests, ${args.users} users`,
  );

  const points: Point[] = [];
  const t0 = performance.now();
  const sampler = setInterval(() => {
    void metrics().then((m) => {
      points.push({
        seconds: Math.round((performance.now() - t0) / 1000),
        rssMb: Number((rssBytes() / MB).toFixed(1)),
        heapMb: Number((m.heap / MB).toFixed(1)),
      });
    });
  }, 1000);
  let lastLine = 0;
  const run = await generateLoad({ ...base, maxRequests: Number(args.requests) }, (p) => {
    if (p.elapsedSeconds - lastLine >= 15) {
      lastLine = p.elapsedSeconds;
      log(`${p.samples.length} requests, RSS ${(rssBytes() / MB).toFixed(1)} MB`);
    }
  });
  clearInterval(sampler);
  const report: LoadReport = summarize(run.samples, {
    url: server.url,
    model: base.model,
    users: base.users,
    durationSeconds: run.durationSeconds,
  });

  // Idle again: give the server a moment to release the last slots, then read its gauges.
  await sleep(1000);
  const end = await metrics();
  const rssEnd = rssBytes();
  // The end of the run, not one sample: the median of the last quarter of the samples.
  const tail = points.slice(Math.floor(points.length * 0.75)).map((p) => p.rssMb);
  const rssTailMb = tail.length ? median(tail) : rssEnd / MB;
  const growthMb = rssTailMb - rssStart / MB;
  const quarter = Math.max(1, Math.floor(points.length / 4));
  const heapGrowthMb =
    points.length >= 4
      ? Math.min(...points.slice(Math.floor(points.length / 2)).map((p) => p.heapMb)) -
        Math.min(...points.slice(0, quarter).map((p) => p.heapMb))
      : 0;
  const fiveXx = Object.entries(report.requests.byStatus)
    .filter(([status]) => /^5\d\d$/.test(status) || status === "network" || status === "timeout")
    .reduce((n, [, c]) => n + c, 0);

  const failures = [
    growthMb > Number(args["max-rss-growth-mb"]) &&
      `RSS grew ${growthMb.toFixed(1)} MB after warm-up (bound ${args["max-rss-growth-mb"]} MB)`,
    heapGrowthMb > Number(args["max-heap-growth-mb"]) &&
      `the heap's lowest point rose ${heapGrowthMb.toFixed(1)} MB from the first quarter of the run to the second half (bound ${args["max-heap-growth-mb"]} MB)`,
    end.slotsBusy !== 0 && `${end.slotsBusy} slot(s) still busy at the end`,
    end.queue !== 0 && `${end.queue} request(s) still queued at the end`,
    end.inFlight !== 0 && `${end.inFlight} request(s) still in flight at the end`,
    fiveXx > 0 && `${fiveXx} request(s) got a 5xx or no answer`,
  ].filter((f): f is string => typeof f === "string");

  const result = {
    requests: report.requests,
    errorRate: report.errorRate,
    requestsPerSecond: report.requestsPerSecond,
    latencyMs: report.latencyMs,
    rss: {
      afterWarmupMb: Number((rssStart / MB).toFixed(1)),
      endMb: Number((rssEnd / MB).toFixed(1)),
      tailMedianMb: Number(rssTailMb.toFixed(1)),
      growthMb: Number(growthMb.toFixed(1)),
      maxMb: Number(Math.max(...points.map((p) => p.rssMb), rssEnd / MB).toFixed(1)),
    },
    heapMb: {
      first: points[0]?.heapMb ?? null,
      last: points.at(-1)?.heapMb ?? null,
      growthMb: Number(heapGrowthMb.toFixed(1)),
    },
    endGauges: end,
    failures,
    samples: points,
  };
  if (args.json) writeReport(args.json, JSON.stringify(result, null, 2));
  const r = result.rss;
  log(
    `${report.requests.total} requests in ${report.durationSeconds} s: ${report.requests.ok} ok, ` +
      `${report.requests.cancelled} cancelled, ${report.requests.byStatus["429"] ?? 0} × 429, ${fiveXx} × 5xx/none`,
  );
  log(
    `RSS after warm-up ${r.afterWarmupMb} MB, end of run ${r.tailMedianMb} MB (growth ${r.growthMb} MB), max ${r.maxMb} MB`,
  );
  log(
    `heap ${result.heapMb.first} → ${result.heapMb.last} MB (growth ${result.heapMb.growthMb} MB); end: slots ${end.slotsBusy}, queue ${end.queue}, in flight ${end.inFlight}`,
  );
  for (const f of failures) log(`FAIL: ${f}`);
  log(failures.length ? "soak failed" : "soak passed");
  return failures.length ? 1 : 0;
}

try {
  process.exitCode = await main();
} finally {
  server.child.kill("SIGTERM");
  await server.exit;
}
