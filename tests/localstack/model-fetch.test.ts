import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { resolveModel } from "../../src/inference/model-source.js";
import { chat, json, spawnServer, waitReady, type ServerProcess } from "../helpers/inference.js";
import { uniqueName } from "../helpers/kube.js";
import { fixtureModel } from "../helpers/fixture-model.js";

// The inference server loads its model from an S3 bucket (AWS emulator) or a GCS bucket (fake-gcs-server).
const model = readFileSync(fixtureModel());
const digest = createHash("sha256").update(model).digest("hex");
const s3Bucket = uniqueName("models");
const gcsBucket = uniqueName("models");
const env = {
  AWS_ENDPOINT_URL: inject("awsEndpoint"),
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_REGION: "eu-central-1",
  STORAGE_EMULATOR_HOST: inject("gcsEndpoint"),
};
const procs: ServerProcess[] = [];

beforeAll(async () => {
  const s3 = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await s3.send(
    new CreateBucketCommand({
      Bucket: s3Bucket,
      CreateBucketConfiguration: { LocationConstraint: "eu-central-1" },
    }),
  );
  await s3.send(new PutObjectCommand({ Bucket: s3Bucket, Key: "tiny/model.gguf", Body: model }));
  const gcs = new Storage({ apiEndpoint: env.STORAGE_EMULATOR_HOST, projectId: "spillway" });
  await gcs.bucket(gcsBucket).create();
  await gcs.bucket(gcsBucket).file("tiny/model.gguf").save(model, { resumable: false });
});
afterAll(() => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
});

describe.each([
  ["s3", `s3://${s3Bucket}/tiny/model.gguf`],
  ["gs", `gs://${gcsBucket}/tiny/model.gguf`],
])("model from %s", (_scheme, uri) => {
  it("downloads, verifies and caches it", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "spillway-models-"));
    const r = await resolveModel(uri, { cacheDir, sha256: digest, env });
    expect(r).toMatchObject({ source: "download", sha256: digest });
    expect(readFileSync(r.path).equals(model)).toBe(true);
    expect((await resolveModel(uri, { cacheDir, sha256: digest, env })).source).toBe("cache");
  });

  it("refuses a checksum mismatch and leaves nothing in the cache", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "spillway-models-"));
    await expect(resolveModel(uri, { cacheDir, sha256: "a".repeat(64), env })).rejects.toThrow(
      /checksum mismatch/,
    );
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it("a missing object fails without retrying forever", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "spillway-models-"));
    await expect(
      resolveModel(uri.replace("model.gguf", "absent.gguf"), { cacheDir, env, backoffMs: 10 }),
    ).rejects.toThrow(/absent\.gguf/);
  });

  it("serves chat completions from it with `npm run serve`", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "spillway-models-"));
    const p = spawnServer(["--model", uri, "--sha256", digest, "--cache-dir", cacheDir], env);
    procs.push(p);
    await waitReady(p.url);
    const res = await fetch(`${p.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chat("hello", { model: "model", max_tokens: 4 })),
    });
    expect(res.status).toBe(200);
    expect((await json(res)).usage.completion_tokens).toBe(4);
    const models = await json(await fetch(`${p.url}/v1/models`));
    expect(models.data[0].sha256).toBe(digest);
    p.child.kill("SIGTERM");
    expect(await p.exit).toBe(0);
  });
});
