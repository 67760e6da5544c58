import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { InfraConfigError, loadConfig } from "../../infra/config/schema.js";
import { ROOT } from "../../infra/lib/tofu.js";
import { devConfigRaw, infraTestConfig } from "../helpers/infra.js";

function problemsOf(change: (raw: Record<string, any>) => void): string[] {
  try {
    infraTestConfig(change);
  } catch (err) {
    if (err instanceof InfraConfigError) return err.problems;
    throw err;
  }
  throw new Error("config was accepted");
}

describe("infrastructure config", () => {
  it("the dev environment's config is valid and gets its defaults", () => {
    const config = loadConfig(join(ROOT, "infra", "config", "dev.yaml"));
    expect(config.aws.noncurrentVersionDays).toBe(30);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each<[string, (raw: Record<string, any>) => void, RegExp]>([
    ["a missing field", (r) => delete r.gcp.project, /^gcp\.project: /],
    ["a negative node count", (r) => (r.aws.maxNodes = -1), /^aws\.maxNodes: .*greater or equal to 1/],
    ["an unknown field", (r) => (r.aws.spotPrice = 1), /^aws\.spotPrice: Unexpected property/],
    ["a malformed CIDR", (r) => (r.adminCidrs = ["10.0.0.300/24"]), /^adminCidrs\[0\]: .*not a CIDR/],
    [
      "host bits in a CIDR",
      (r) => (r.hetzner.subnetCidr = "10.0.1.7/24"),
      /^hetzner\.subnetCidr: .*host bits/,
    ],
    [
      "the API open to the world",
      (r) => (r.adminCidrs = ["0.0.0.0/0"]),
      /^adminCidrs\[0\]: 0\.0\.0\.0\/0 opens/,
    ],
    ["IPv6 world for spot nodes", (r) => (r.nodeCidrs = ["::/0"]), /^nodeCidrs\[0\]: ::\/0 opens/],
    [
      "a subnet outside its network",
      (r) => (r.hetzner.subnetCidr = "10.9.1.0/24"),
      /^hetzner\.subnetCidr: .* not inside/,
    ],
    [
      "a subnet in another region",
      (r) => (r.aws.vpc.subnets[0].zone = "us-east-1a"),
      /^aws\.vpc\.subnets\[0\]\.zone: /,
    ],
    ["a price cap under the expected price", (r) => (r.aws.maxSpotPriceUsd = 0.1), /^aws\.maxSpotPriceUsd: /],
    ["a malformed AMI id", (r) => (r.aws.imageId = "ubuntu"), /^aws\.imageId: /],
    ["a bad k3s version", (r) => (r.cluster.k3sVersion = "1.33"), /^cluster\.k3sVersion: /],
    [
      "duplicate instance types",
      (r) => r.aws.instanceTypes.push("g5.xlarge"),
      /^aws\.instanceTypes: g5\.xlarge listed twice/,
    ],
  ])("refuses %s, naming the field", (_, change, expected) => {
    const problems = problemsOf(change);
    expect(
      problems.some((p) => expected.test(p)),
      problems.join("\n"),
    ).toBe(true);
  });

  it("lists every problem at once", () => {
    const problems = problemsOf((r) => {
      r.aws.maxNodes = 0;
      r.gcp.maxNodes = "many";
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^aws\.maxNodes: /),
        expect.stringMatching(/^gcp\.maxNodes: /),
      ]),
    );
  });

  it("a bad config fails synth with exit 3 and names the field, writing nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-config-"));
    try {
      const raw = devConfigRaw();
      raw.hetzner.servers = 0;
      writeFileSync(join(dir, "bad.yaml"), stringify(raw));
      const run = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "infra", "main.ts")], {
        cwd: ROOT,
        env: { ...process.env, SPILLWAY_CONFIG: join(dir, "bad.yaml"), CDKTF_OUTDIR: join(dir, "out") },
        encoding: "utf8",
      });
      expect(run.status).toBe(3);
      expect(run.stderr).toContain("bad.yaml: invalid infrastructure config");
      expect(run.stderr).toMatch(/hetzner\.servers: .*greater or equal to 1/);
      expect(existsSync(join(dir, "out"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
