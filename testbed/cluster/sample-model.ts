/**
 * Puts a sample model into the local AWS emulator's S3, where pods on the local cluster's real node fetch
 * it as they would from a real bucket: the fixture GGUF (random weights, real llama.cpp), deterministic
 * from its seed. Prints the model's URI and sha256 as shell assignments.
 *
 *   npx tsx testbed/cluster/sample-model.ts [--bucket spillway-models] [--key chat-small.gguf]
 */
import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { POD_REACHABLE_PORTS, NETWORK } from "./network.js";
import { sampleModelBytes } from "../../src/cli/smoke/model.js";

export const EMULATOR_REGION = "eu-central-1";

/** The AWS emulator as pods on the real node reach it (network.ts forwards it to loopback). */
export const POD_AWS_ENDPOINT = `http://${NETWORK.gateway}:${POD_REACHABLE_PORTS.awsEmulator}`;

/**
 * The environment a model's server needs to fetch from the emulator: test credentials the emulator
 * accepts (no secret is involved), the endpoint and region.
 */
export const POD_AWS_ENV = [
  { name: "AWS_ENDPOINT_URL", value: POD_AWS_ENDPOINT },
  { name: "AWS_REGION", value: EMULATOR_REGION },
  { name: "AWS_ACCESS_KEY_ID", value: "test" },
  { name: "AWS_SECRET_ACCESS_KEY", value: "test" },
];

export interface SampleModel {
  uri: string;
  sha256: string;
  bytes: number;
}

export async function publishSampleModel(
  opts: { bucket?: string; key?: string; endpoint?: string; body?: Buffer } = {},
): Promise<SampleModel> {
  const bucket = opts.bucket ?? "spillway-models";
  const key = opts.key ?? "chat-small.gguf";
  const body = opts.body ?? sampleModelBytes().bytes;
  const s3 = new S3Client({
    endpoint: opts.endpoint ?? `http://127.0.0.1:${POD_REACHABLE_PORTS.awsEmulator}`,
    region: EMULATOR_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: EMULATOR_REGION },
      }),
    );
  } catch (err) {
    if ((err as Error).name !== "BucketAlreadyOwnedByYou") throw err;
  }
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return {
    uri: `s3://${bucket}/${key}`,
    sha256: createHash("sha256").update(body).digest("hex"),
    bytes: body.length,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { bucket: { type: "string" }, key: { type: "string" } } });
  const m = await publishSampleModel({
    ...(values.bucket ? { bucket: values.bucket } : {}),
    ...(values.key ? { key: values.key } : {}),
  });
  process.stdout.write(
    `MODEL_URI=${m.uri}\nMODEL_SHA256=${m.sha256}\nPOD_AWS_ENDPOINT=${POD_AWS_ENDPOINT}\n`,
  );
}
