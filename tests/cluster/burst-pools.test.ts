import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { repoRoot } from "../../src/lib/paths.js";
import { applyCrds, kubectlFor } from "../helpers/kube.js";

const kubectl = kubectlFor(inject("kubeconfig"));
const dir = mkdtempSync(join(tmpdir(), "spillway-pools-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("BurstPools from the infrastructure config", () => {
  it("`npm run infra:pools` writes pools the API server accepts", async () => {
    const file = join(dir, "pools.yaml");
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "infra", "scripts", "pools.ts"), "--out", file],
      {
        cwd: repoRoot,
        encoding: "utf8",
      },
    );
    expect(run.status, run.stderr).toBe(0);
    await applyCrds(kubectl);
    const out = await kubectl(["apply", "--dry-run=server", "-f", file]);
    expect(out).toMatch(/burstpool.spillway.dev\/spillway-dev-spot-eu-central-1 created \(server dry run\)/);
    expect(out).toMatch(/burstpool.spillway.dev\/spillway-dev-spot-europe-west4 created \(server dry run\)/);
  });
});
