/**
 * Builders for infrastructure tests: a valid config to start from, stacks synthesized in memory, and
 * small readers over the Terraform JSON.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify, stripVTControlCharacters } from "node:util";
import { parse } from "yaml";
import { afterAll } from "vitest";
import { validateConfig, type InfraConfig } from "../../infra/config/schema.js";
import { ROOT } from "../../infra/lib/tofu.js";
import type { BuildOptions, StackId } from "../../infra/stacks/index.js";
import {
  synthApp as synthAppOnDisk,
  synthStack,
  type Stacks,
  type SynthesizedApp,
} from "../../infra/testing.js";

export type { SynthesizedApp } from "../../infra/testing.js";

const execFileAsync = promisify(execFile);

/** The dev environment's raw YAML, as a fresh object each call. */
export function devConfigRaw(): Record<string, any> {
  return parse(readFileSync(join(ROOT, "infra", "config", "dev.yaml"), "utf8"));
}

/** A valid config with `change` applied to the raw YAML object first. */
export function infraTestConfig(change: (raw: Record<string, any>) => void = () => undefined): InfraConfig {
  const raw = devConfigRaw();
  change(raw);
  return validateConfig(raw, "test config");
}

export interface Synthesized {
  resource: Record<string, Record<string, any>>;
  data?: Record<string, Record<string, any>>;
  output?: Record<string, any>;
  variable?: Record<string, any>;
  provider: Record<string, any[]>;
  terraform: Record<string, any>;
}

/** One stack of `config`, synthesized in memory. */
export function synth(
  id: StackId,
  config: InfraConfig = infraTestConfig(),
  options: BuildOptions = {},
): Synthesized {
  return synthStack(id, config, options) as Synthesized;
}

/**
 * Every resource of `type`, each with its Terraform name as `tfName`. (In-memory synth leaves out the
 * construct-path metadata; names are `<construct path>_<hash>`.)
 */
export function resourcesOf(json: Synthesized, type: string): (Record<string, any> & { tfName: string })[] {
  return Object.entries(json.resource[type] ?? {}).map(([tfName, attrs]) => ({ ...attrs, tfName }));
}

/** The single resource of `type`; fails when there is not exactly one. */
export function onlyResource(json: Synthesized, type: string): Record<string, any> & { tfName: string } {
  const all = resourcesOf(json, type);
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0]!;
}

/** The data source of `type` whose construct id (the middle of its Terraform name) is `id`. */
export function dataSource(json: Synthesized, type: string, id: string): Record<string, any> {
  const match = Object.entries(json.data?.[type] ?? {}).find(([name]) => name.includes(`_${id}_`));
  if (!match) throw new Error(`no ${type} with id ${id}`);
  return match[1];
}

/**
 * Searchable text of a synthesized value: JSON for objects; for strings, the text with HCL's escapes
 * undone, so literal parts of an expression like base64encode(join(...)) read as written.
 */
export function textOf(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.replace(/\\n/g, "\n").replace(/\\"/g, '"');
}

/** Every stack synthesized to disk, after `change` (e.g. one of infra/testing's badVariants). */
export function synthApp(
  config: InfraConfig = infraTestConfig(),
  change?: (stacks: Stacks) => void,
): SynthesizedApp & { json(id: StackId): Synthesized } {
  return synthAppOnDisk(config, change) as SynthesizedApp & { json(id: StackId): Synthesized };
}

/**
 * synthApp for one test file: every app it makes is removed after the file's tests (vitest's afterAll).
 * Call it at the top level of a test file.
 */
export function synthAppsForFile(): typeof synthApp {
  const apps: SynthesizedApp[] = [];
  afterAll(() => {
    for (const app of apps) app.cleanup();
  });
  return (...args) => {
    const app = synthApp(...args);
    apps.push(app);
    return app;
  };
}

/**
 * The cdktf CLI as a platform engineer runs it, with OpenTofu and the offline mirror (`env` from
 * tofuEnv()), writing into `outdir` instead of the repository's cdktf.out. Resolves with its output.
 */
export async function cdktfCli(args: string[], env: NodeJS.ProcessEnv, outdir: string): Promise<string> {
  const cli = join(ROOT, "node_modules", "cdktf-cli", "bundle", "bin", "cdktf");
  try {
    const run = await execFileAsync(process.execPath, [cli, ...args, "--output", outdir], {
      cwd: ROOT,
      env: { ...env, CI: "1" },
      maxBuffer: 64 << 20,
      timeout: 900_000,
    });
    // tofu colours its output whatever the terminal; the tests read text.
    return stripVTControlCharacters(run.stdout + run.stderr);
  } catch (err) {
    const failed = err as { stdout?: string; stderr?: string };
    const output = stripVTControlCharacters(`${failed.stdout ?? ""}${failed.stderr ?? ""}`);
    throw new Error(`cdktf ${args.join(" ")} failed:\n${output.split("\n").slice(-60).join("\n")}`, {
      cause: err,
    });
  }
}
