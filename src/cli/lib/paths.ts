import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root; this file sits at src/cli/lib (or dist/cli/lib once compiled). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Where `npm run tools` puts pinned binaries. */
export const toolsBin = process.env.SPILLWAY_TOOLS_BIN ?? join(repoRoot, ".tools", "bin");

/** Runtime state (data dirs, logs, pid files, kubeconfigs) of local clusters and emulators. */
export const runDir = process.env.SPILLWAY_RUN_DIR ?? join(repoRoot, ".run");

export function tool(name: string): string {
  return join(toolsBin, name);
}
