/**
 * Builders for infrastructure tests: a valid config to start from, stacks synthesized in memory, and
 * small readers over the Terraform JSON.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify, stripVTControlCharacters } from "node:util";
import { App, Testing, type TerraformStack } from "cdktf";
import { parse } from "yaml";
import { validateConfig, type InfraConfig } from "../../infra/config/schema.js";
import { ROOT } from "../../infra/lib/tofu.js";
import { buildStacks, type BuildOptions, type StackId } from "../../infra/stacks/index.js";

const execFileAsync = promisify(execFile);

/** The dev environment's raw YAML, as a fresh object each call. */
export function devConfigRaw(): Record<string, any> {
  return parse(readFileSync(join(ROOT, "infra", "config", "dev.yaml"), "utf8"));
}

/** A valid config with `change` applied to the raw YAML object first. */
export function testConfig(change: (raw: Record<string, any>) => void = () => undefined): InfraConfig {
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

/**
 * Builds every stack of `config` in a throwaway app (cdktf's Testing.app leaves a temp folder behind
 * unless given an outdir, so it gets one that is removed here) and returns the stacks for `fn`.
 */
export function withStacks<T>(
  config: InfraConfig,
  fn: (stacks: ReturnType<typeof buildStacks>, app: App) => T,
  options: BuildOptions = {},
): T {
  const outdir = mkdtempSync(join(tmpdir(), "spillway-synth-"));
  try {
    const app = Testing.app({ outdir });
    return fn(buildStacks(app, config, options), app);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

export function synthJson(stack: TerraformStack): Synthesized {
  return JSON.parse(Testing.synth(stack)) as Synthesized;
}

/** One stack of `config`, synthesized in memory. */
export function synth(
  id: StackId,
  config: InfraConfig = testConfig(),
  options: BuildOptions = {},
): Synthesized {
  return withStacks(config, (stacks) => synthJson(stacks[id]), options);
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

export interface SynthesizedApp {
  /** cdktf.out-like folder: stacks/<id>/cdk.tf.json. */
  readonly outdir: string;
  stackDir(id: StackId): string;
  json(id: StackId): Synthesized;
  cleanup(): void;
}

/**
 * Synthesizes every stack to disk as `cdktf synth` does (with construct paths in the metadata), after
 * `change` edits the built stacks: the way tests make deliberately bad variants of the real stacks.
 */
export function synthApp(
  config: InfraConfig = testConfig(),
  change: (stacks: ReturnType<typeof buildStacks>) => void = () => undefined,
  options: BuildOptions = {},
): SynthesizedApp {
  const outdir = mkdtempSync(join(tmpdir(), "spillway-synth-"));
  const app = new App({ outdir, skipValidation: false });
  change(buildStacks(app, config, options));
  app.synth();
  const stackDir = (id: StackId) => join(outdir, "stacks", id);
  return {
    outdir,
    stackDir,
    json: (id) => JSON.parse(readFileSync(join(stackDir(id), "cdk.tf.json"), "utf8")) as Synthesized,
    cleanup: () => {
      rmSync(outdir, { recursive: true, force: true });
    },
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
