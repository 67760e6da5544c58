/**
 * Regenerates the committed Hetzner Cloud bindings in infra/.gen/providers/hcloud.
 *
 *   npm run infra:gen-hcloud
 *
 * There is no prebuilt @cdktf/provider-hcloud. The provider is built from source by `npm run tools`,
 * laid out as a local OpenTofu mirror, and its schema dumped with `tofu providers schema -json`; cdktf's
 * own provider generator turns that schema into TypeScript. Only a provider bump, or a stack that needs
 * another resource (add it to HCLOUD_RESOURCES), needs this script: a fresh clone synthesizes from the
 * committed bindings without Go or OpenTofu.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CodeMaker, TerraformProviderGenerator } from "@cdktf/provider-generator";
import { ConstructsMakerProviderTarget, Language, TerraformProviderConstraint } from "@cdktf/commons";
import type { ProviderSchema } from "@cdktf/commons";
import { HCLOUD_RESOURCES } from "../lib/hcloud-bindings.js";
import { HCLOUD_PROVIDER, ROOT, tofuEnv } from "../lib/tofu.js";

const OUT = join(ROOT, "infra", ".gen");

function dumpSchema(): ProviderSchema {
  const dir = mkdtempSync(join(tmpdir(), "spillway-hcloud-schema-"));
  try {
    const required = { hcloud: { source: HCLOUD_PROVIDER.source, version: HCLOUD_PROVIDER.version } };
    writeFileSync(join(dir, "main.tf.json"), JSON.stringify({ terraform: { required_providers: required } }));
    const env = tofuEnv();
    execFileSync(env.TOFU, ["init", "-input=false", "-no-color"], { cwd: dir, env, stdio: "inherit" });
    const out = execFileSync(env.TOFU, ["providers", "schema", "-json"], {
      cwd: dir,
      env,
      maxBuffer: 64 << 20,
    });
    return JSON.parse(out.toString()) as ProviderSchema;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const dumped = dumpSchema();
const provider = Object.values(dumped.provider_schemas ?? {})[0];
if (!provider) throw new Error("tofu printed no provider schema");
// OpenTofu names providers registry.opentofu.org/..., while the generator matches the registry.terraform.io
// host that Terraform reports; the host never reaches the generated code (its source stays
// "hetznercloud/hcloud", which each tool resolves against its own registry).
const fqpn = `registry.terraform.io/${HCLOUD_PROVIDER.source}`;
// tofu reports no versions in the schema; cdktf records them in the generated provider class.
// Only the resources the stacks use (the whole provider is 18,000 lines of bindings), and no data sources.
const wanted = new Set<string>(HCLOUD_RESOURCES);
const missing = HCLOUD_RESOURCES.filter((r) => !(r in provider.resource_schemas));
if (missing.length) throw new Error(`the provider has no ${missing.join(", ")}`);
const resources = Object.fromEntries(
  Object.entries(provider.resource_schemas).filter(([r]) => wanted.has(r)),
);
const schema: ProviderSchema = {
  format_version: dumped.format_version,
  provider_schemas: { [fqpn]: { ...provider, resource_schemas: resources, data_source_schemas: {} } },
  provider_versions: { [fqpn]: HCLOUD_PROVIDER.version },
};

const code = new CodeMaker();
const generator = new TerraformProviderGenerator(code, schema);
const constraint = new TerraformProviderConstraint(`${HCLOUD_PROVIDER.source}@${HCLOUD_PROVIDER.version}`);
generator.generate(new ConstructsMakerProviderTarget(constraint, Language.TYPESCRIPT));
rmSync(join(OUT, "providers", "hcloud"), { recursive: true, force: true });
await code.save(OUT);

// The generated code predates this repository's strict compiler flags (noImplicitOverride and more);
// it is checked by its generator, not by us.
let files = 0;
const walk = (dir: string): void => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith(".ts")) {
      writeFileSync(path, `// @ts-nocheck\n${readFileSync(path, "utf8")}`);
      files++;
    }
  }
};
walk(join(OUT, "providers", "hcloud"));
console.log(`generated ${files} files for ${fqpn} ${HCLOUD_PROVIDER.version} into ${OUT}`);
