import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Storage } from "@google-cloud/storage";
import { describe, expect, inject, it } from "vitest";
import { uniqueName } from "../helpers/kube.js";

// The emulators stand in for S3, GCS and Compute Engine: what a client writes there it can read back.
describe("cloud emulators", () => {
  it("the AWS emulator on :4566 stores and returns an S3 object", async () => {
    const s3 = new S3Client({
      endpoint: inject("awsEndpoint"),
      region: "eu-central-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    const bucket = uniqueName("models");
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: "eu-central-1" },
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "m.gguf", Body: "GGUF-bytes" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "m.gguf" }));
    expect(await got.Body?.transformToString()).toBe("GGUF-bytes");
  });

  it("fake-gcs-server on :4443 stores and returns a GCS object", async () => {
    const storage = new Storage({ apiEndpoint: inject("gcsEndpoint"), projectId: "spillway-test" });
    const bucket = storage.bucket(uniqueName("models"));
    await bucket.create();
    await bucket.file("m.gguf").save("GGUF-bytes", { resumable: false });
    const [content] = await bucket.file("m.gguf").download();
    expect(content.toString()).toBe("GGUF-bytes");
  });

  it("the Compute stand-in on :4480 answers a missing group with GCE's 404", async () => {
    const group = `projects/spillway-test/regions/europe-west4/instanceGroupManagers/${uniqueName("spot")}`;
    const res = await fetch(`${inject("computeEndpoint")}/${group}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({
      error: { code: 404, message: `The resource '${group}' was not found` },
    });
  });
});
