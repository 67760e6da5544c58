/**
 * npm run bench:cold-start [-- --runs 3]
 *
 * How long a new replica takes to serve: the inference image started with podman (image present), from
 * `podman run` to /ready answering 200, in three cases: the model file mounted (the floor: process start,
 * load, warm-up), the model fetched from the emulated S3 bucket into an empty cache, and the same with the
 * cache volume already holding it (a restarted container). Medians over --runs; also the image's size.
 * Loopback only: the container shares the host's network and the server listens on 127.0.0.1.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import * as emulators from "../../testbed/emulators.js";
import { currentInferenceImage, podmanEnv } from "../../testbed/lib/podman.js";
import { median } from "../../src/lib/stats.js";
import { publishSampleModel } from "../../testbed/cluster/sample-model.js";

const { values: args } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
const RUNS = Number(args.runs);
const IMAGE = currentInferenceImage();
const log = (l: string) => process.stderr.write(`[cold-start] ${l}\n`);
const podman = (a: string[]) =>
  execFileSync("podman", a, {
    env: { ...process.env, ...podmanEnv },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

async function startToReady(opts: { env: Record<string, string>; mounts: string[] }): Promise<number> {
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const env = {
    SPILLWAY_HOST: "127.0.0.1",
    SPILLWAY_PORT: String(port),
    SPILLWAY_PARALLEL: "2",
    SPILLWAY_CONTEXT_SIZE: "512",
    ...opts.env,
  };
  const started = performance.now();
  const id = podman([
    "run",
    "-d",
    "--rm",
    "--network=host",
    ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    ...opts.mounts.flatMap((m) => ["-v", m]),
    IMAGE,
  ]).trim();
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return performance.now() - started;
      if (performance.now() - started > 120_000)
        throw new Error(`not ready after 120 s: ${podman(["logs", id])}`);
      await sleep(20);
    }
  } finally {
    podman(["rm", "-f", "-t", "0", id]);
  }
}

const reused = await emulators.isRunning();
if (!reused) await emulators.up(log);
try {
  const sample = await publishSampleModel({ key: "bench/cold-start.gguf" });
  const s3 = {
    SPILLWAY_MODEL: sample.uri,
    SPILLWAY_MODEL_SHA256: sample.sha256,
    AWS_ENDPOINT_URL: emulators.AWS_ENDPOINT,
    AWS_REGION: "eu-central-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  };
  const fixture = join(tmpdir(), "spillway-fixtures", "tiny-42.gguf");
  const cases: Record<string, number[]> = {
    "model file mounted": [],
    "S3, empty cache": [],
    "S3, cache volume holds it": [],
  };
  for (let r = 0; r < RUNS; r++) {
    cases["model file mounted"]?.push(
      await startToReady({
        env: { SPILLWAY_MODEL: "/models/m.gguf" },
        mounts: [`${fixture}:/models/m.gguf:ro`],
      }),
    );
    const cache = mkdtempSync(join(tmpdir(), "spillway-cache-"));
    chmodSync(cache, 0o777);
    try {
      cases["S3, empty cache"]?.push(
        await startToReady({ env: s3, mounts: [`${cache}:/var/cache/spillway`] }),
      );
      cases["S3, cache volume holds it"]?.push(
        await startToReady({ env: s3, mounts: [`${cache}:/var/cache/spillway`] }),
      );
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
    log(`run ${r + 1}/${RUNS} done`);
  }
  const size = Number(podman(["image", "inspect", "--format", "{{.Size}}", IMAGE]).trim()) / 1e6;
  console.log(
    `\n${IMAGE}: ${size.toFixed(0)} MB; fixture model ${(sample.bytes / 1e6).toFixed(1)} MB; medians of ${RUNS}\n`,
  );
  console.log("| case | podman run → /ready 200 (ms) |");
  console.log("| --- | --- |");
  for (const [name, xs] of Object.entries(cases)) console.log(`| ${name} | ${median(xs).toFixed(0)} |`);
} finally {
  if (!reused) await emulators.down();
}
