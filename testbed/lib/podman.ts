import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { UserError } from "../../src/lib/errors.js";
import { httpStatus } from "./http.js";
import { repoRoot, runDir } from "../../src/lib/paths.js";
import { startDetached, stopProcess, waitUntil } from "./process.js";

const execFileAsync = promisify(execFile);

/** The project's podman configuration (runc, cgroupfs, lowered ulimits); see images/podman. */
export const podmanEnv = { CONTAINERS_CONF: join(repoRoot, "images", "podman", "containers.conf") };

export function inferenceImage(version: string): string {
  return `localhost/spillway-inference:${version}`;
}

/** The image `npm run image` builds from this checkout (its package version). */
export function currentInferenceImage(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
  return inferenceImage(pkg.version);
}

export async function imageExists(image: string): Promise<boolean> {
  try {
    await execFileAsync("podman", ["image", "exists", image], { env: { ...process.env, ...podmanEnv } });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `podman system service` on a socket of our own, so testcontainers (a Docker API client) can
 * drive podman without a Docker engine. Returns the DOCKER_HOST value and a stop function.
 */
export async function startDockerApi(): Promise<{ dockerHost: string; stop: () => Promise<void> }> {
  const stateDir = join(runDir, "podman");
  const socket = join(stateDir, "podman.sock");
  mkdirSync(stateDir, { recursive: true });
  await stopProcess(stateDir, "podman-service");
  if (existsSync(socket)) rmSync(socket);
  startDetached(stateDir, {
    name: "podman-service",
    bin: "/usr/bin/podman",
    args: ["system", "service", "--time=0", `unix://${socket}`],
    ports: [],
    env: podmanEnv,
  });
  await waitUntil(
    "podman API socket",
    async () => (await httpStatus({ socketPath: socket, path: "/_ping" }, {}, 1000)) === 200,
    {
      timeoutMs: 20_000,
      stateDir,
      component: "podman-service",
    },
  ).catch((err: unknown) => {
    throw new UserError(
      `podman system service did not start: ${String(err)}`,
      "run `npm run tools` (installs podman)",
      2,
    );
  });
  return {
    dockerHost: `unix://${socket}`,
    stop: () => stopProcess(stateDir, "podman-service"),
  };
}
