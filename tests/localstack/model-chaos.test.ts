import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ModelSourceError, resolveModel, type ResolveOptions } from "../../src/inference/model-source.js";
import { FaultProxy, rangeServer } from "../helpers/fault-proxy.js";
import { fixtureModel } from "../helpers/fixture-model.js";
import { spawnServer } from "../helpers/inference.js";
import { uniqueName } from "../helpers/kube.js";

// Model-download chaos: a fault-injecting proxy between the model fetcher and each kind of source (the S3
// emulator, fake-gcs-server, an http server that honours ranges). For every fault the fetcher either
// recovers (retrying, resuming with a range) or fails naming the cause, and nothing but a complete,
// verified model ever lands in the cache.
const model = readFileSync(fixtureModel());
const digest = createHash("sha256").update(model).digest("hex");
const s3Bucket = uniqueName("chaos");
const gcsBucket = uniqueName("chaos");
const KEY = "tiny/model.gguf";

interface Source {
  uri: string;
  env: NodeJS.ProcessEnv;
  proxy: FaultProxy;
}
const sources = new Map<string, Source>();
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  const aws = inject("awsEndpoint");
  const gcs = inject("gcsEndpoint");
  const s3 = new S3Client({
    endpoint: aws,
    region: "eu-central-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await s3.send(
    new CreateBucketCommand({
      Bucket: s3Bucket,
      CreateBucketConfiguration: { LocationConstraint: "eu-central-1" },
    }),
  );
  await s3.send(new PutObjectCommand({ Bucket: s3Bucket, Key: KEY, Body: model }));
  const storage = new Storage({ apiEndpoint: gcs, projectId: "spillway" });
  await storage.bucket(gcsBucket).create();
  await storage.bucket(gcsBucket).file(KEY).save(model, { resumable: false });
  const http = await rangeServer(model, `/${KEY}`);
  cleanups.push(http.close);

  const proxied = async (target: string) => {
    const proxy = new FaultProxy(target);
    const url = await proxy.start();
    cleanups.push(() => proxy.close());
    return { proxy, url };
  };
  const s3p = await proxied(aws);
  sources.set("s3", {
    uri: `s3://${s3Bucket}/${KEY}`,
    env: {
      AWS_ENDPOINT_URL: s3p.url,
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_REGION: "eu-central-1",
    },
    proxy: s3p.proxy,
  });
  const gsp = await proxied(gcs);
  sources.set("gs", {
    uri: `gs://${gcsBucket}/${KEY}`,
    env: { STORAGE_EMULATOR_HOST: gsp.url },
    proxy: gsp.proxy,
  });
  const httpp = await proxied(new URL(http.url).origin);
  sources.set("https", { uri: `${httpp.url}/${KEY}`, env: {}, proxy: httpp.proxy });
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function source(name: string): Source {
  const s = sources.get(name);
  if (!s) throw new Error(`no source ${name}`);
  s.proxy.reset();
  return s;
}

/** resolveModel with quick retries, its log lines collected. */
async function fetchModel(s: Source, cacheDir: string, extra: Partial<ResolveOptions> = {}) {
  const logs: string[] = [];
  const result = await resolveModel(s.uri, {
    cacheDir,
    sha256: digest,
    env: s.env,
    backoffMs: 50,
    stallMs: 1000,
    log: (msg, fields) => logs.push(`${msg} ${JSON.stringify(fields ?? {})}`),
    ...extra,
  }).then(
    (r) => r,
    (e: unknown) => e as ModelSourceError,
  );
  return { result, logs };
}

const newCache = () => mkdtempSync(join(tmpdir(), "spillway-chaos-"));

/** Only the verified model is ever in the cache: no partial file, nothing else. */
function expectOnlyTheModel(cacheDir: string) {
  const files = readdirSync(cacheDir);
  expect(files).toHaveLength(1);
  expect(files[0]).toMatch(/^[0-9a-f]{32}\.gguf$/);
  expect(readFileSync(join(cacheDir, files[0]!)).equals(model)).toBe(true);
}

/** The resumed request asked for the rest of the object and got exactly that. */
function expectResumed(s: Source) {
  const [first, second] = s.proxy.downloads;
  expect(first?.range).toBeUndefined();
  const offset = Number(/^bytes=(\d+)-$/.exec(second?.range ?? "")?.[1]);
  expect(offset).toBeGreaterThan(0);
  expect(second?.bytes).toBe(model.length - offset);
}

describe.each(["s3", "gs", "https"])("model download from %s, through faults", (name) => {
  it("a connection cut mid-download is retried and resumes with a range", async () => {
    const s = source(name);
    s.proxy.queue({ kind: "cut", afterBytes: 200_000 });
    const cacheDir = newCache();
    const { result, logs } = await fetchModel(s, cacheDir);
    expect(result).toMatchObject({ source: "download", sha256: digest });
    expectResumed(s);
    expect(logs.some((l) => l.startsWith("model download failed; retrying"))).toBe(true);
    expectOnlyTheModel(cacheDir);
  });

  it("a stall past the timeout is broken off and resumed", async () => {
    const s = source(name);
    s.proxy.queue({ kind: "stall", afterBytes: 100_000 });
    const cacheDir = newCache();
    const { result, logs } = await fetchModel(s, cacheDir);
    expect(result).toMatchObject({ source: "download", sha256: digest });
    expect(logs.some((l) => l.includes("stalled: no data for 1s"))).toBe(true);
    expectResumed(s);
    expectOnlyTheModel(cacheDir);
  });

  it("a truncated body with a correct length header is retried and resumed", async () => {
    const s = source(name);
    s.proxy.queue({ kind: "truncate", afterBytes: 300_000 });
    const cacheDir = newCache();
    const { result } = await fetchModel(s, cacheDir);
    expect(result).toMatchObject({ source: "download", sha256: digest });
    expectResumed(s);
    expectOnlyTheModel(cacheDir);
  });

  it("a burst of 503s is retried", async () => {
    const s = source(name);
    s.proxy.queue(...Array.from({ length: 3 }, () => ({ kind: "status" as const, status: 503 })));
    const cacheDir = newCache();
    const { result } = await fetchModel(s, cacheDir);
    expect(result).toMatchObject({ source: "download", sha256: digest });
    // Each retry is download()'s own: the S3 and GCS clients' retries are off, so there is one policy.
    expect(s.proxy.downloads.map((d) => d.status)).toEqual([503, 503, 503, 200]);
    expectOnlyTheModel(cacheDir);
  });

  it("503s that do not end fail naming the status, and leave nothing", async () => {
    const s = source(name);
    s.proxy.queue(...Array.from({ length: 2 }, () => ({ kind: "status" as const, status: 503 })));
    const cacheDir = newCache();
    const { result } = await fetchModel(s, cacheDir, { attempts: 2 });
    expect(result).toBeInstanceOf(ModelSourceError);
    expect((result as ModelSourceError).reason).toBe("ModelDownloadFailed");
    expect((result as Error).message).toMatch(/503/);
    expect((result as Error).message).not.toContain("\n");
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it("a corrupted byte is never served or cached", async () => {
    const s = source(name);
    s.proxy.queue({ kind: "corrupt", atByte: 4096 });
    const cacheDir = newCache();
    const { result } = await fetchModel(s, cacheDir);
    if (name === "s3") {
      // The S3 SDK checks the object's CRC as it streams: the corrupt transfer is thrown away and the
      // object downloaded again from the start.
      expect(result).toMatchObject({ source: "download", sha256: digest });
      expect(s.proxy.downloads.map((d) => d.range)).toEqual([undefined, undefined]);
      expectOnlyTheModel(cacheDir);
      return;
    }
    // Nothing below the pinned sha256 checks the bytes: it catches the corruption, and nothing is cached.
    expect(result).toBeInstanceOf(ModelSourceError);
    expect((result as ModelSourceError).reason).toBe("ModelChecksumMismatch");
    expect((result as Error).message).toContain(`expected sha256 ${digest}, got `);
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});

// A cache volume smaller than the model: a 256 KiB tmpfs (mounting one needs root, as the real node does).
const root = process.getuid?.() === 0;
describe.skipIf(!root)("a full model cache (256 KiB tmpfs)", () => {
  const dir = join(tmpdir(), `spillway-full-cache-${process.pid}`);
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir]);
  });
  afterAll(() => {
    execFileSync("umount", [dir]);
  });

  it("fails at once naming the cache, and leaves no partial file", async () => {
    const s = source("https");
    const { result } = await fetchModel(s, dir);
    expect(result).toBeInstanceOf(ModelSourceError);
    expect((result as Error).message).toMatch(
      new RegExp(
        `^no space left in the model cache ${dir} after \\d+ bytes of .+ \\(${model.length} bytes\\)`,
      ),
    );
    expect(s.proxy.downloads).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("the server exits 1 with one line naming the cause", async () => {
    const s = source("https");
    const p = spawnServer(["--model", s.uri, "--sha256", digest, "--cache-dir", dir]);
    expect(await p.exit).toBe(1);
    const fatal = p
      .output()
      .split("\n")
      .filter((l) => l.includes('"level":60'));
    expect(fatal).toHaveLength(1);
    expect(JSON.parse(fatal[0]!)).toMatchObject({
      reason: "ModelDownloadFailed",
      msg: expect.stringMatching(/^model failed to load: no space left in the model cache /) as unknown,
    });
    expect(readdirSync(dir)).toEqual([]);
  });
});
