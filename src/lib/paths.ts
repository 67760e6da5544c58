import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The nearest folder above this file with a package.json: the repository (from src/ or a dist/ build). */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

/** Repository root. */
export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)));

/** Where `npm run tools` puts pinned binaries. */
export const toolsBin = process.env.SPILLWAY_TOOLS_BIN ?? join(repoRoot, ".tools", "bin");

/** Runtime state (data dirs, logs, pid files, kubeconfigs) of local clusters and emulators. */
export const runDir = process.env.SPILLWAY_RUN_DIR ?? join(repoRoot, ".run");

export function tool(name: string): string {
  return join(toolsBin, name);
}
