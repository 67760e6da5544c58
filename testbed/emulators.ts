import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../src/lib/errors.js";
import { httpStatus } from "./lib/http.js";
import { repoRoot, runDir, tool } from "../src/lib/paths.js";
import { assertPortsFree, isAlive, readPid, startDetached, stopProcess, waitUntil } from "./lib/process.js";

/**
 * Cloud emulators on loopback: the AWS one on :4566 (moto by default; LocalStack in host mode when
 * SPILLWAY_AWS_EMULATOR=localstack), fake-gcs-server on :4443 and the Compute stand-in (testbed/gce/) on
 * :4480. Tests only ever see the endpoints.
 */
export const AWS_ENDPOINT = "http://127.0.0.1:4566";
export const GCS_ENDPOINT = "http://127.0.0.1:4443";
/** The Compute stand-in: its metadata servers and test-bed routes (`/spillway-testbed/...`) hang off this. */
export const COMPUTE_STAND_IN_URL = "http://127.0.0.1:4480";
/** The Compute API root, as GcpPoolDriver's `endpoint` and the operator's `pools.gcp.endpoint` take it. */
export const COMPUTE_ENDPOINT = `${COMPUTE_STAND_IN_URL}/compute/v1`;

type AwsEmulator = "moto" | "localstack";

export function stateDir(): string {
  return join(runDir, "emulators");
}

function awsEmulator(): AwsEmulator {
  const v = process.env.SPILLWAY_AWS_EMULATOR ?? "moto";
  if (v !== "moto" && v !== "localstack") {
    throw new UserError(`SPILLWAY_AWS_EMULATOR='${v}' is not an emulator`, "set it to moto or localstack", 3);
  }
  return v;
}

const services = () => ({
  aws: {
    name: "aws",
    ports: [4566],
    health: async () =>
      awsEmulator() === "moto"
        ? // The dashboard page, not data.json: that dumps every stored object (models too) and outgrows
          // the health timeout.
          (await httpStatus(`${AWS_ENDPOINT}/moto-api/`)) === 200
        : (await httpStatus(`${AWS_ENDPOINT}/_localstack/health`)) === 200,
    spec: () =>
      awsEmulator() === "moto"
        ? { bin: tool("moto_server"), args: ["-H", "127.0.0.1", "-p", "4566"], env: {} }
        : {
            // Host mode: the runtime under LocalStack's own supervisor (see tool_localstack).
            bin: tool("localstack-supervisor"),
            args: [],
            // No analytics, no certificate download: nothing may leave loopback.
            env: {
              GATEWAY_LISTEN: "127.0.0.1:4566",
              SERVICES: "s3,ec2,iam,sts,autoscaling,sqs,events",
              DISABLE_EVENTS: "1",
              SKIP_SSL_CERT_DOWNLOAD: "1",
              DNS_ADDRESS: "0",
            },
          },
  },
  gcs: {
    name: "gcs",
    ports: [4443],
    health: async () => (await httpStatus(`${GCS_ENDPOINT}/storage/v1/b?project=spillway`)) === 200,
    spec: () => ({
      bin: tool("fake-gcs-server"),
      args: ["-scheme", "http", "-host", "127.0.0.1", "-port", "4443", "-backend", "memory"].concat([
        "-external-url",
        GCS_ENDPOINT,
        "-log-level",
        "warn",
      ]),
      env: {},
    }),
  },
  compute: {
    name: "compute",
    ports: [4480],
    health: async () => (await httpStatus(`${COMPUTE_STAND_IN_URL}/spillway-testbed/health`)) === 200,
    spec: () => ({
      // One process (not the tsx wrapper and its child), so the stop signal reaches the server itself;
      // tsx resolved here, as `--import tsx` would resolve it from the caller's working directory.
      bin: process.execPath,
      args: [
        "--import",
        import.meta.resolve("tsx"),
        join(repoRoot, "testbed", "gce", "main.ts"),
        "--port",
        "4480",
      ],
      env: {},
    }),
  },
});

export async function isRunning(): Promise<boolean> {
  const dir = stateDir();
  for (const s of Object.values(services())) {
    const pid = readPid(dir, s.name);
    if (pid === undefined || !isAlive(pid) || !(await s.health())) return false;
  }
  return true;
}

/** Starts the emulators that are not running; resolves to the names of those it started. */
export async function up(log: (line: string) => void = () => undefined): Promise<string[]> {
  const dir = stateDir();
  const started: string[] = [];
  for (const s of Object.values(services())) {
    const pid = readPid(dir, s.name);
    if (pid !== undefined && isAlive(pid) && (await s.health())) {
      log(`${s.name} already running`);
      continue;
    }
    await stopProcess(dir, s.name);
    await assertPortsFree(
      `the ${s.name} emulator`,
      s.ports,
      "stop the process using it, or `npm run emulators:down` if it is an earlier run",
    );
    const t = Date.now();
    startDetached(dir, { name: s.name, ports: s.ports, ...s.spec() });
    await waitUntil(`${s.name} emulator health`, s.health, {
      timeoutMs: 60_000,
      stateDir: dir,
      component: s.name,
    });
    started.push(s.name);
    log(`${s.name.padEnd(7)} ready on 127.0.0.1:${s.ports[0]} in ${((Date.now() - t) / 1000).toFixed(1)}s`);
  }
  return started;
}

/**
 * Stops the emulators, or only the named ones: a run that found some already up (another run's) stops
 * just what it started. The state folder goes with a full stop only.
 */
export async function down(only?: string[]): Promise<void> {
  const dir = stateDir();
  for (const s of Object.values(services()))
    if (!only || only.includes(s.name)) await stopProcess(dir, s.name);
  if (!only && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
