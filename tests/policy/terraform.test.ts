import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot, tool } from "../../src/lib/paths.js";
import { providerMirrored, tofuEnv } from "../../infra/lib/tofu.js";
import type { StackId } from "../../infra/stacks/index.js";
import { STACK_IDS } from "../../infra/stacks/index.js";
import { badVariants } from "../../infra/testing.js";
import { cdktfCli, synthApp, type SynthesizedApp } from "../helpers/infra.js";

const execFileAsync = promisify(execFile);
const env = tofuEnv();
const real = synthApp();
const apps: SynthesizedApp[] = [real];
afterAll(() => {
  for (const app of apps) app.cleanup();
});

interface TflintIssue {
  rule: { name: string };
  message: string;
}

/** tflint's issues for one synthesized stack (exit code 2 only means "issues found"). */
async function tflint(dir: string): Promise<TflintIssue[]> {
  const args = ["--chdir", dir, "--config", `${repoRoot}/.tflint.hcl`, "--format", "json"];
  const out = await execFileAsync(tool("tflint"), args, { env }).then(
    (r) => r.stdout,
    (err: unknown) => {
      const failed = err as { code?: number; stdout?: string };
      if (failed.code === 2 && failed.stdout) return failed.stdout;
      throw err;
    },
  );
  return (JSON.parse(out) as { issues: TflintIssue[] }).issues;
}

async function tofu(dir: string, ...args: string[]): Promise<string> {
  return (await execFileAsync(env.TOFU, args, { cwd: dir, env, maxBuffer: 16 << 20 })).stdout;
}

/** Each stack's provider, and why it may be missing from the mirror. */
const PROVIDER_OF: Record<StackId, { source: Parameters<typeof providerMirrored>[0]; absent: string }> = {
  "hetzner-base": { source: "hetznercloud/hcloud", absent: "npm run tools builds it" },
  "aws-spot": { source: "hashicorp/aws", absent: "npm run tools:providers builds it, 45-90 min" },
  "gcp-spot": {
    source: "hashicorp/google",
    absent: "the Go module proxy serves it only at 8.0.x, which the 6.x bindings cannot use",
  },
};

describe("static analysis of the synthesized stacks", () => {
  it.each(STACK_IDS)("tflint finds nothing in %s", async (id) => {
    expect(await tflint(real.stackDir(id))).toEqual([]);
  });

  it("tflint reports what it is there for: an input nothing uses", async () => {
    const app = synthApp(undefined, badVariants.unusedInput);
    apps.push(app);
    const issues = await tflint(app.stackDir("gcp-spot"));
    expect(issues.map((i) => i.rule.name)).toEqual(["terraform_unused_declarations"]);
    expect(issues[0]!.message).toContain('"forgotten"');
  });
});

describe("offline OpenTofu checks (providers from the local mirror, never a registry)", () => {
  for (const id of STACK_IDS) {
    const { source, absent } = PROVIDER_OF[id];
    const present = providerMirrored(source);
    const title = present
      ? `tofu init and validate ${id}`
      : `tofu init and validate ${id} (not run: ${source} is not in the mirror; ${absent})`;
    it.skipIf(!present)(title, { timeout: 300_000 }, async () => {
      const dir = real.stackDir(id);
      await tofu(dir, "init", "-input=false", "-backend=false", "-no-color");
      const result = JSON.parse(await tofu(dir, "validate", "-json", "-no-color")) as {
        valid: boolean;
        diagnostics: unknown[];
      };
      expect(result).toMatchObject({ valid: true, diagnostics: [] });
    });
  }

  it("`cdktf diff hetzner-base` plans through OpenTofu and the mirror, and never prints the join token", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-plan-"));
    try {
      const token = randomBytes(24).toString("hex");
      const planEnv = { ...env, TF_VAR_k3s_token: token, HCLOUD_TOKEN: "x".repeat(64) };
      const out = await cdktfCli(["diff", "hetzner-base", "--skip-provider-lock"], planEnv, join(dir, "out"));
      expect(out).toMatch(/hcloud_server\.base_node-0_[0-9A-F]+ \(base\/node-0\) will be created/);
      expect(out).toMatch(/user_data\s+= \(sensitive value\)/);
      expect(out).not.toContain(token);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tofu refuses a provider the mirror does not have, instead of downloading it", async () => {
    const app = synthApp(undefined, badVariants.missingProvider);
    apps.push(app);
    await expect(
      tofu(app.stackDir("hetzner-base"), "init", "-input=false", "-backend=false", "-no-color"),
    ).rejects.toThrow(/no available releases match|Failed to query available provider packages/);
  });
});
