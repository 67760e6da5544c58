import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { BurstPoolSpec } from "../../api/burst-pool.js";
import { AwsPoolDriver } from "../../operator/pools/aws.js";
import type { PoolDriver } from "../../operator/pools/driver.js";
import { GcpPoolDriver } from "../../operator/pools/gcp.js";
import type { InfraConfig } from "../../../infra/config/schema.js";
import { poolNames } from "../../../infra/lib/names.js";
import { UserError } from "../../lib/errors.js";
import { kubectlFor, type Kubectl } from "../../lib/kubectl.js";
import type { Cloud } from "./clouds.js";
import { sampleModelBytes } from "./model.js";
import { unreachable, type Steps } from "./steps.js";

/**
 * Where a smoke run happens. The steps are the same everywhere (run.ts); a target says which cluster, which
 * BurstPool the smoke replica must land on, how its driver reaches the cloud, and where the model file goes.
 * On a real cloud the pool is the fleet's own (the spot stack's group, its BurstPool from `npm run
 * infra:pools`); on `local` the run makes a pool of its own over an emulated Auto Scaling group, whose
 * instances the test bed's stand-in for cloud-init boots as real spot nodes (testbed/smoke-local.ts).
 */

export interface SmokePool {
  name: string;
  spec: BurstPoolSpec;
}

export interface ModelFile {
  uri: string;
  sha256: string;
  /** How reports name the file, when `uri` is not for showing (a signed URL). */
  shown?: string;
}

export interface Timeouts {
  /** The operator's first status on the model: no status means no operator watches the namespace. */
  operatorMs: number;
  /** A node of the pool Ready with the smoke replica on it: an instance boots and joins. */
  nodeMs: number;
  readyMs: number;
  chatMs: number;
  /** The operator removes the node once empty (its emptyNodeCooldownSeconds, 120 s by default, and a round). */
  drainMs: number;
}

export interface Target {
  kubeconfig: string;
  kubectl: Kubectl;
  driver: PoolDriver;
  timeouts: Timeouts;
  /** Server environment the model's pods need to read the file. */
  serverEnv: { name: string; value: string }[];
  /** Fails with exit 2 or 3 when the run cannot start; nothing is created before it passes. */
  preflight(): Promise<string>;
  /** The pool, made first when the target makes its own (its teardowns registered on `steps`). */
  pool(steps: Steps, runId: string): Promise<SmokePool>;
  /** Puts the tiny model where the pods fetch it from; registers its removal. */
  publish(steps: Steps, runId: string): Promise<ModelFile>;
}

const REAL_TIMEOUTS: Timeouts = {
  operatorMs: 60_000,
  nodeMs: 15 * 60_000,
  readyMs: 10 * 60_000,
  chatMs: 120_000,
  drainMs: 10 * 60_000,
};

export const MODEL_KEY = (runId: string) => `spillway-smoke/${runId}/tiny.gguf`;

/**
 * The target for a real cloud. `local` is the test bed's (testbed/smoke-local.ts): the shipped command does
 * not carry the test bed, so only a checkout's `npm run spillway` offers it.
 */
export type LocalTarget = (infra: InfraConfig) => Target;

export function targetFor(
  cloud: Exclude<Cloud, "hetzner">,
  infra: InfraConfig,
  env: NodeJS.ProcessEnv,
  local?: LocalTarget,
): Target {
  if (cloud !== "local") return fleetTarget(cloud, infra, env);
  if (!local)
    throw new UserError(
      "--cloud local needs the local test bed, which this build does not include",
      "run it from a checkout: npm run spillway -- smoke --cloud local",
      3,
    );
  return local(infra);
}

/**
 * A deployed fleet: KUBECONFIG's cluster, the BurstPool the spot stack's outputs describe, the cloud's
 * credentials from the environment (the SDKs' own chains), the model in the stack's bucket.
 */
function fleetTarget(cloud: "aws" | "gcp", infra: InfraConfig, env: NodeJS.ProcessEnv): Target {
  const name = poolNames(infra)[cloud];
  const kubeconfig = env.KUBECONFIG ?? "";
  const kubectl = kubectlFor(kubeconfig);
  const driver =
    cloud === "aws"
      ? new AwsPoolDriver({
          timeoutMs: 15_000,
          ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}),
        })
      : new GcpPoolDriver({
          timeoutMs: 15_000,
          ...(env.SPILLWAY_GCP_ENDPOINT ? { endpoint: env.SPILLWAY_GCP_ENDPOINT } : {}),
        });
  let pool: SmokePool | undefined;
  return {
    kubeconfig,
    kubectl,
    driver,
    timeouts: REAL_TIMEOUTS,
    // aws: a signed URL needs nothing; gcp: the node's service account reads the bucket.
    serverEnv: [],
    async preflight() {
      await kubectl(["version", "--request-timeout=10s"]).catch((err: unknown) => {
        throw unreachable(
          `the fleet's cluster (KUBECONFIG=${kubeconfig}) does not answer: ${firstLine(err)}`,
          "check KUBECONFIG and that the API server is reachable",
        );
      });
      const found = await kubectl
        .json<{ spec: BurstPoolSpec }>(["get", "burstpool", name])
        .catch((err: unknown) => {
          if (/NotFound/.test(String(err))) return undefined;
          throw err;
        });
      if (!found) {
        throw new UserError(
          `no BurstPool ${name} in the fleet's cluster`,
          `deploy the ${cloud}-spot stack and apply its pools (npm run -s infra:pools -- --outputs outputs.json | kubectl apply -f -)`,
          3,
        );
      }
      if (found.spec.provider !== cloud)
        throw new UserError(
          `BurstPool ${name} is a ${found.spec.provider} pool, not ${cloud}`,
          "check the config",
          3,
        );
      const group = await driver.describe(found.spec).catch((err: unknown) => {
        throw unreachable(
          `${cloud} group ${found.spec.group} cannot be read: ${firstLine(err)}`,
          "check the credentials' permissions and the region",
        );
      });
      pool = { name, spec: found.spec };
      return `BurstPool ${name} over ${found.spec.group}: desired ${group.desired}, ${group.instances.length} instance(s)`;
    },
    pool: () => (pool ? Promise.resolve(pool) : Promise.reject(new Error("the pool is read in preflight"))),
    async publish(steps, runId) {
      const body = sampleModelBytes();
      const key = MODEL_KEY(runId);
      if (cloud === "aws") {
        const bucket = infra.aws.bucket;
        const s3 = new S3Client({
          region: infra.aws.region,
          ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL, forcePathStyle: true } : {}),
        });
        steps.onTeardown(`model file s3://${bucket}/${key}`, () =>
          s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
        );
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body.bytes }));
        // The spot nodes' launch template allows one metadata hop, so pods cannot use the node's role:
        // the replica reads this one object (the public fixture model) through a URL signed for an hour.
        const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
        const uri = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
          expiresIn: 3600,
        });
        return { uri, sha256: body.sha256, shown: `s3://${bucket}/${key} (a URL signed for 1 h)` };
      }
      const { Storage } = await import("@google-cloud/storage");
      const file = new Storage({ projectId: infra.gcp.project }).bucket(infra.gcp.bucket).file(key);
      steps.onTeardown(`model file gs://${infra.gcp.bucket}/${key}`, () =>
        file.delete({ ignoreNotFound: true }),
      );
      await file.save(body.bytes, { resumable: false });
      return { uri: `gs://${infra.gcp.bucket}/${key}`, sha256: body.sha256 };
    },
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
}
