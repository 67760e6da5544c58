/**
 * The inference image's application: the server and the operator, each bundled into one file (esbuild,
 * which tsx brings), and of node_modules only what the bundles cannot carry: node-llama-cpp (a native
 * addon that finds its binaries on disk) and the packages it needs. The repository's production tree
 * (cdktf, the provider bindings, the Kubernetes client's sources, ~900 MB) stays out of the image.
 *
 *   npx tsx scripts/image-bundle.ts APP_DIR    (APP_DIR has the production node_modules from `npm ci`)
 */
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "esbuild";

/** Packages loaded at run time from node_modules rather than bundled. */
export const RUNTIME_PACKAGES = ["node-llama-cpp", "@node-llama-cpp/linux-x64"];
/** Optional native speed-ups that `ws` tries to load; absent here, and not bundleable. */
const OPTIONAL_NATIVE = ["bufferutil", "utf-8-validate"];
/** Files a runtime package carries that the server never reads (node-llama-cpp's source bundle for builds). */
const NOT_AT_RUNTIME = ["node-llama-cpp/llama/gitRelease.bundle"];

export async function bundle(appDir: string, root = process.cwd()): Promise<void> {
  const entries = {
    "inference/main": join(root, "src/inference/main.ts"),
    "operator/main": join(root, "src/operator/main.ts"),
  };
  await build({
    entryPoints: entries,
    outdir: join(appDir, "dist"),
    bundle: true,
    platform: "node",
    target: "node24",
    format: "esm",
    sourcemap: "linked",
    legalComments: "none",
    external: [...RUNTIME_PACKAGES, ...OPTIONAL_NATIVE],
    // CommonJS dependencies call require() for Node's own modules; an ESM bundle has to provide it.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: "warning",
  });
}

/** The package directories `from` needs at run time: itself and its dependencies, as Node resolves them. */
export function closure(nodeModules: string, names: string[]): Set<string> {
  const seen = new Set<string>();
  const resolve = (name: string, fromDir: string): string | undefined => {
    for (let d = fromDir; d.startsWith(nodeModules); d = dirname(d)) {
      const candidate = join(d, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) return candidate;
      if (d === nodeModules) break;
    }
    const top = join(nodeModules, name);
    return existsSync(join(top, "package.json")) ? top : undefined;
  };
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const found = resolve(dep, dir);
      if (found) visit(found);
    }
  };
  for (const n of names) {
    const top = resolve(n, nodeModules);
    if (!top) throw new Error(`${n} is not installed in ${nodeModules}`);
    visit(top);
  }
  return seen;
}

/** Removes every package directory under node_modules that is not in `keep`; returns how many. */
export function prune(nodeModules: string, keep: Set<string>): number {
  let removed = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name === ".bin") continue;
      const path = join(dir, e.name);
      if (e.name.startsWith("@")) {
        walk(path);
        if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
        continue;
      }
      if (!keep.has(path)) {
        rmSync(path, { recursive: true, force: true });
        removed++;
      } else if (existsSync(join(path, "node_modules"))) walk(join(path, "node_modules"));
    }
  };
  walk(nodeModules);
  rmSync(join(nodeModules, ".bin"), { recursive: true, force: true });
  for (const f of NOT_AT_RUNTIME) rmSync(join(nodeModules, f), { force: true });
  return removed;
}

const [appDir] = process.argv.slice(2);
if (appDir) {
  await bundle(appDir);
  const nodeModules = join(appDir, "node_modules");
  const removed = prune(nodeModules, closure(nodeModules, RUNTIME_PACKAGES));
  process.stderr.write(
    `[image] bundled the server and the operator; removed ${removed} packages they do not load\n`,
  );
}
