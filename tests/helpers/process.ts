import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../../src/lib/paths.js";

export interface Spawned {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  exit: Promise<number | null>;
}

/**
 * Runs a TypeScript entry of this repository as one process: node with tsx's loader, not the tsx CLI,
 * which runs the program in a child, so signals (and SIGKILL) reach the program itself.
 */
export function spawnTs(entry: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, entry), ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      resolve(code);
    });
  });
  return { child, output: () => out, exit };
}
