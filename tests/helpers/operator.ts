import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { parsePrometheusText, sumOf } from "../../src/lib/prometheus-text.js";
import { spawnTs } from "./process.js";
import { waitFor } from "./wait.js";

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  probes: string;
  output: () => string;
  /** A metric's value from /metrics, summed over its labels (0 when absent). */
  metric: (name: string) => Promise<number>;
  stop: () => Promise<void>;
  kill: () => Promise<void>;
}

/** `npm run operator` as a real process with its own config, probes on a free loopback port. */
export async function startOperator(opts: {
  kubeconfig: string;
  identity: string;
  leaseNamespace: string;
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}): Promise<OperatorProcess> {
  const port = 21000 + Math.floor(Math.random() * 20000);
  const dir = mkdtempSync(join(tmpdir(), "spillway-operator-"));
  const configFile = join(dir, "config.yaml");
  writeFileSync(
    configFile,
    stringify({
      probePort: port,
      probeHost: "127.0.0.1",
      leaderElection: { namespace: opts.leaseNamespace, leaseDurationSeconds: 4, renewSeconds: 1 },
      ...opts.config,
    }),
  );
  const { child, output, exit } = spawnTs(
    "src/operator/main.ts",
    ["--config", configFile, "--identity", opts.identity],
    {
      KUBECONFIG: opts.kubeconfig,
      // Cloud SDKs look for credentials on the instance metadata address when none are given: nothing in
      // the test bed may leave loopback, so they get emulator credentials and no metadata lookups.
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_REGION: "eu-central-1",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ENDPOINT_URL: "http://127.0.0.1:4566",
      METADATA_SERVER_DETECTION: "none",
      ...opts.env,
    },
  );
  const probes = `http://127.0.0.1:${port}`;
  await waitFor(`${opts.identity} probes`, async () => (await fetch(`${probes}/healthz`)).ok, {
    timeoutMs: 30_000,
  });
  const metric = async (name: string) =>
    sumOf(parsePrometheusText(await (await fetch(`${probes}/metrics`)).text()), name);
  return {
    child,
    identity: opts.identity,
    probes,
    output,
    metric,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exit;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exit;
    },
  };
}

export async function totalWrites(op: OperatorProcess): Promise<number> {
  return op.metric("spillway_operator_api_writes_total");
}
