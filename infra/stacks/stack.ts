import { createRequire } from "node:module";
import { LocalBackend, TerraformStack } from "cdktf";
import type { Construct } from "constructs";

const require = createRequire(import.meta.url);

/**
 * A stack with the conventions every Spillway stack shares. State defaults to a local file at the
 * repository root (git-ignored), named by a relative path so the synthesized JSON is the same on every
 * machine; teams replace it with a remote, encrypted backend.
 */
export class SpillwayStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // cdktf runs Terraform in cdktf.out/stacks/<id>.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    // OpenTofu and Terraform 1.6+ both read what the stacks synthesize (validation blocks, sensitive
    // inputs, ignore_changes by name).
    this.addOverride("terraform.required_version", ">= 1.6.0");
  }

  /**
   * Accepts newer releases of the same major than the prebuilt bindings in `bindingsPackage` were
   * generated from (they pin that exact release): those bindings are frozen, while providers built from
   * source for the offline mirror are newer.
   */
  protected allowNewerProvider(name: string, bindingsPackage: string): void {
    const meta = require(`${bindingsPackage}/package.json`) as { cdktf: { provider: { version: string } } };
    const version = meta.cdktf.provider.version;
    const major = Number(version.split(".")[0]);
    this.addOverride(`terraform.required_providers.${name}.version`, `>= ${version}, < ${major + 1}.0.0`);
  }
}
