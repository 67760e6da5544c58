import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../src/lib/paths.js";
import { bindingDir, HCLOUD_RESOURCES } from "../../infra/lib/hcloud-bindings.js";

// The committed hcloud bindings are exactly what the stacks import: the generator's allow-list covers
// every import, and .gen holds nothing else (regenerate with `npm run infra:gen-hcloud`).
const GEN = join(repoRoot, "infra", ".gen", "providers", "hcloud");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === ".gen" ? [] : sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

const imported = new Map<string, string[]>();
for (const file of sources(join(repoRoot, "infra"))) {
  for (const m of readFileSync(file, "utf8").matchAll(/\.gen\/providers\/hcloud\/([a-z0-9-]+)\//g)) {
    const dir = m[1]!;
    imported.set(dir, [...(imported.get(dir) ?? []), relative(repoRoot, file)]);
  }
}

describe("hcloud bindings", () => {
  it("every binding a stack imports is on the generator's allow-list", () => {
    const allowed = new Set(["provider", ...HCLOUD_RESOURCES.map(bindingDir)]);
    const unlisted = [...imported]
      .filter(([dir]) => !allowed.has(dir))
      .map(([dir, files]) => `${dir} (${files.join(", ")})`);
    expect(imported.size).toBeGreaterThan(0);
    expect(unlisted, "add these to HCLOUD_RESOURCES in infra/lib/hcloud-bindings.ts").toEqual([]);
  });

  it(".gen holds the allow-listed bindings and nothing else", () => {
    const dirs = readdirSync(GEN, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(dirs).toEqual(["provider", ...HCLOUD_RESOURCES.map(bindingDir)].sort());
  });

  it("every allow-listed resource is used by a stack", () => {
    expect(HCLOUD_RESOURCES.map(bindingDir).filter((d) => !imported.has(d))).toEqual([]);
  });
});
