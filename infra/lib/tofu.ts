/** OpenTofu run offline: providers come from the local mirror that scripts/tofu-mirror.sh lays out. */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, tool } from "../../src/lib/paths.js";

export const ROOT = repoRoot;

/** KEY=value lines of scripts/versions.env, the one place tool and provider versions are pinned. */
export function pinnedVersions(): Record<string, string> {
  const text = readFileSync(join(ROOT, "scripts", "versions.env"), "utf8");
  const pairs = [...text.matchAll(/^([A-Z0-9_]+)=("?)(.*)\2$/gm)].map((m): [string, string] => [
    m[1] ?? "",
    m[3] ?? "",
  ]);
  return Object.fromEntries(pairs);
}

export const HCLOUD_PROVIDER = {
  source: "hetznercloud/hcloud",
  version: (pinnedVersions().HCLOUD_PROVIDER_VERSION ?? "").replace(/^v/, ""),
};

export interface TofuEnv extends NodeJS.ProcessEnv {
  TOFU: string;
  TF_CLI_CONFIG_FILE: string;
}

/**
 * The environment for tofu and `cdktf deploy`: a CLI config that installs providers only from the local
 * mirror, no checkpoint calls, and tofu as the binary cdktf runs.
 */
export function tofuEnv(base: NodeJS.ProcessEnv = process.env): TofuEnv {
  const rc = execFileSync("bash", [join(ROOT, "scripts", "tofu-mirror.sh")], { encoding: "utf8" }).trim();
  const TOFU = tool("tofu");
  return {
    ...base,
    TOFU,
    TF_CLI_CONFIG_FILE: rc,
    TERRAFORM_BINARY_NAME: TOFU,
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
  };
}

/** Where scripts/tofu-mirror.sh lays out providers, under the host OpenTofu resolves bare sources to. */
const MIRROR = join(ROOT, ".tools", "tofu-mirror", "registry.opentofu.org");

/**
 * Whether a provider is in the local mirror. hcloud always is after `npm run tools`; aws only once built
 * with `npm run tools:providers`; google never (see scripts/versions.env). Call after tofuEnv(), which refreshes the mirror.
 */
export function providerMirrored(
  source: "hetznercloud/hcloud" | "hashicorp/aws" | "hashicorp/google",
): boolean {
  return existsSync(join(MIRROR, source));
}
