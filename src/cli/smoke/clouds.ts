import { existsSync } from "node:fs";
import { join } from "node:path";
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling";
import { UserError } from "../../lib/errors.js";

/**
 * What a smoke run needs from each cloud before it provisions anything: credentials present (else exit 3,
 * naming what is missing) and the cloud's API answering (else exit 2). Endpoint variables
 * (AWS_ENDPOINT_URL, SPILLWAY_GCP_ENDPOINT, HCLOUD_ENDPOINT) point a run at another server.
 */

export const CLOUDS = ["aws", "gcp", "hetzner", "local"] as const;
export type Cloud = (typeof CLOUDS)[number];

/** One line naming the missing credentials and how to provide them, or undefined. Pure. */
export function missingCredentials(cloud: Cloud, env: NodeJS.ProcessEnv): string | undefined {
  const fleet = env.KUBECONFIG ? "" : "KUBECONFIG (the fleet's cluster, where the node joins)";
  let cloudMissing = "";
  switch (cloud) {
    case "local":
      return undefined;
    case "aws":
      if (!(
        (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) ||
        env.AWS_PROFILE ||
        env.AWS_WEB_IDENTITY_TOKEN_FILE
      )) {
        cloudMissing = "AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)";
      }
      break;
    case "gcp": {
      // Application Default Credentials, what the driver and the storage client use: a key file, or
      // gcloud's own (`gcloud auth application-default login`).
      const file = env.GOOGLE_APPLICATION_CREDENTIALS;
      const gcloud = join(
        env.CLOUDSDK_CONFIG || join(env.HOME ?? "", ".config", "gcloud"),
        "application_default_credentials.json",
      );
      if (file && !existsSync(file))
        cloudMissing = `GOOGLE_APPLICATION_CREDENTIALS names ${file}, which does not exist`;
      else if (!file && !existsSync(gcloud)) {
        cloudMissing =
          "GCP credentials (GOOGLE_APPLICATION_CREDENTIALS, a service account key file, or `gcloud auth application-default login`)";
      }
      break;
    }
    case "hetzner":
      if (!env.HCLOUD_TOKEN) cloudMissing = "HCLOUD_TOKEN (a Hetzner Cloud API token)";
      break;
  }
  const missing = [cloudMissing, fleet].filter(Boolean);
  return missing.length ? missing.join("; ") : undefined;
}

const unreachable = (cloud: string, url: string, err: unknown) =>
  new UserError(
    `the ${cloud} API at ${url} does not answer (${networkCause(err)})`,
    "check the network, a proxy, or the endpoint variable",
    2,
  );

function networkCause(err: unknown): string {
  const e = err as {
    cause?: { code?: string; message?: string };
    code?: string;
    name?: string;
    message?: string;
  };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** One cheap, read-only call to the cloud's API, with a short timeout. */
export async function checkReachable(cloud: Cloud, env: NodeJS.ProcessEnv, region: string): Promise<void> {
  if (cloud === "aws") {
    const endpoint = env.AWS_ENDPOINT_URL;
    const client = new AutoScalingClient({
      region,
      maxAttempts: 1,
      requestHandler: { requestTimeout: 10_000, connectionTimeout: 5_000 },
      ...(endpoint ? { endpoint } : {}),
    });
    try {
      await client.send(new DescribeAutoScalingGroupsCommand({ MaxRecords: 1 }));
    } catch (err) {
      const e = err as { $metadata?: { httpStatusCode?: number }; name?: string; message?: string };
      const status = e.$metadata?.httpStatusCode;
      if (status === 401 || status === 403) {
        throw new UserError(
          `AWS refused the credentials (${e.name ?? status})`,
          "check AWS_PROFILE or the keys",
          3,
        );
      }
      if (status === undefined)
        throw unreachable("AWS", endpoint ?? `autoscaling.${region}.amazonaws.com`, err);
      throw err;
    } finally {
      client.destroy();
    }
    return;
  }
  const url =
    cloud === "gcp"
      ? `${env.SPILLWAY_GCP_ENDPOINT ?? "https://compute.googleapis.com"}/discovery/v1/apis`
      : `${env.HCLOUD_ENDPOINT ?? "https://api.hetzner.cloud/v1"}/locations`;
  if (cloud === "local") return;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: cloud === "hetzner" ? { authorization: `Bearer ${env.HCLOUD_TOKEN ?? ""}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw unreachable(cloud === "gcp" ? "GCP" : "Hetzner Cloud", url, err);
  }
  if (res.status === 401 || res.status === 403) {
    throw new UserError(
      `the ${cloud} API refused the credentials (${res.status})`,
      "check the token or key file",
      3,
    );
  }
}
