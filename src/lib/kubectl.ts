import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { repoRoot, tool } from "./paths.js";

const execFileAsync = promisify(execFile);

export interface Kubectl {
  (args: string[], input?: string): Promise<string>;
  json<T = unknown>(args: string[]): Promise<T>;
}

/** The pinned kubectl bound to one kubeconfig; `input` goes to stdin; errors carry kubectl's stderr. */
export function kubectlFor(kubeconfig: string): Kubectl {
  const run = async (args: string[], input?: string) => {
    const p = execFileAsync(tool("kubectl"), ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 256 << 20 });
    if (input !== undefined) p.child.stdin?.end(input);
    try {
      return (await p).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(" ")}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  };
  return Object.assign(run, {
    json: async <T>(args: string[]) => JSON.parse(await run([...args, "-o", "json"])) as T,
  });
}

/**
 * Applies this repository's CRDs and waits until the API server serves them. Server-side, taking over the
 * fields from an earlier install (the demo's Helm release), so the CRDs are the ones of this checkout.
 */
export async function applyCrds(kubectl: Kubectl): Promise<void> {
  await kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    join(repoRoot, "charts", "spillway", "crds"),
  ]);
  await kubectl([
    "wait",
    "--for=condition=Established",
    "crd/inferencemodels.spillway.dev",
    "crd/burstpools.spillway.dev",
  ]);
}
