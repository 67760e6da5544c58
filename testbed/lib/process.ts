import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../../src/lib/errors.js";

/** A long-running local process with its pid file and log under one state directory. */
export interface Supervised {
  name: string;
  bin: string;
  args: string[];
  /** TCP ports on 127.0.0.1 it listens on; checked free before start. */
  ports: number[];
  env?: NodeJS.ProcessEnv;
}

export function pidFile(stateDir: string, name: string): string {
  return join(stateDir, "pids", `${name}.pid`);
}

export function logFile(stateDir: string, name: string): string {
  return join(stateDir, "logs", `${name}.log`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readPid(stateDir: string, name: string): number | undefined {
  const file = pidFile(stateDir, name);
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, "utf8"), 10);
  return Number.isFinite(pid) ? pid : undefined;
}

/** Resolves true when something accepts connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => {
      resolvePromise(false);
    });
  });
}

export async function assertPortsFree(component: string, ports: number[], fix: string): Promise<void> {
  for (const port of ports) {
    if (await portInUse(port)) {
      throw new UserError(`port 127.0.0.1:${port} needed by ${component} is already in use`, fix);
    }
  }
}

/** Starts a detached process whose stdout and stderr go to its log file; returns its pid. */
export function startDetached(stateDir: string, p: Supervised): number {
  mkdirSync(join(stateDir, "pids"), { recursive: true });
  mkdirSync(join(stateDir, "logs"), { recursive: true });
  if (!existsSync(p.bin)) {
    throw new UserError(`${p.name}: binary ${p.bin} is missing`, "run `npm run tools`", 3);
  }
  const out = openSync(logFile(stateDir, p.name), "a");
  const child = spawn(p.bin, p.args, {
    detached: true,
    stdio: ["ignore", out, out],
    env: { ...process.env, ...p.env },
  });
  if (child.pid === undefined) throw new Error(`${p.name}: spawn failed`);
  child.unref();
  writeFileSync(pidFile(stateDir, p.name), String(child.pid));
  return child.pid;
}

/** SIGTERM, then SIGKILL after `graceMs`; removes the pid file. */
export async function stopProcess(stateDir: string, name: string, graceMs = 10_000): Promise<void> {
  const pid = readPid(stateDir, name);
  if (pid !== undefined && isAlive(pid)) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
    while (isAlive(pid)) await sleep(20);
  }
  rmSync(pidFile(stateDir, name), { force: true });
}

/** The last lines of a component's log, for error messages. */
export function logTail(stateDir: string, name: string, lines = 15): string {
  const file = logFile(stateDir, name);
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * Polls `check` until it resolves true; fails with the component's log tail when the process dies or the
 * timeout passes, so the cause is in the error rather than behind another command.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; stateDir?: string; component?: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    const pid = opts.stateDir && opts.component ? readPid(opts.stateDir, opts.component) : undefined;
    const died = pid !== undefined && !isAlive(pid);
    if (died || Date.now() > deadline) {
      const tail =
        opts.stateDir && opts.component
          ? `\n--- ${opts.component} log ---\n${logTail(opts.stateDir, opts.component)}`
          : "";
      throw new UserError(
        `${what}: ${died ? "process exited" : `not ready after ${opts.timeoutMs / 1000}s`}${tail}`,
        opts.stateDir && opts.component
          ? `see ${logFile(opts.stateDir, opts.component)}`
          : "see the logs above",
        2,
      );
    }
    await sleep(opts.intervalMs ?? 200);
  }
}
