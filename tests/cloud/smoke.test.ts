import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { SmokeReport } from "../../src/cli/smoke/run.js";
import { kubectlFor, uniqueName } from "../helpers/kube.js";
import { startOperator, type OperatorProcess } from "../helpers/operator.js";
import { spawnTs } from "../helpers/process.js";
import { waitFor } from "../helpers/wait.js";

// `spillway smoke --cloud local` as a platform engineer runs it: against the local cluster (its real node
// serves the model) and the AWS emulator (the driver scales an emulated group, whose instance joins as a
// node). The real clouds' checks run here too: without credentials, or with an API that does not answer,
// a run stops before it provisions anything.
const kubeconfig = inject("kubeconfig");
const kubectl = kubectlFor(kubeconfig);
const ns = uniqueName("smoke");
const dir = mkdtempSync(join(tmpdir(), "spillway-smoke-"));
const autoscaling = new AutoScalingClient({
  endpoint: inject("awsEndpoint"),
  region: "eu-central-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});
let operator: OperatorProcess;

/** The command as a process, with `env` over this one's. */
const smoke = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnTs("src/cli/main.ts", ["smoke", ...args], env);

async function groupExists(name: string): Promise<boolean> {
  const out = await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return (out.AutoScalingGroups ?? []).length > 0;
}

/** Nothing of the run is left: the group, its nodes and the model. */
async function expectTornDown(r: SmokeReport) {
  expect(await groupExists(r.pool.group)).toBe(false);
  const nodes = await kubectl(["get", "nodes", "-l", `spillway.dev/pool=smoke-${r.runId}`, "-o", "name"]);
  expect(nodes.trim()).toBe("");
  const models = await kubectl(["get", "im", "-n", ns, "-l", "spillway.dev/smoke=true", "-o", "name"]);
  expect(models.trim()).toBe("");
}

const report = (path: string) => JSON.parse(readFileSync(path, "utf8")) as SmokeReport;

beforeAll(async () => {
  await kubectl(["create", "namespace", ns]);
  operator = await startOperator({
    kubeconfig,
    identity: ns,
    leaseNamespace: ns,
    config: { namespaces: [ns] },
  });
}, 120_000);
afterAll(async () => {
  await operator.stop();
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
});

describe("spillway smoke --cloud local", () => {
  it(
    "provisions, joins, serves, answers, tears down; every step timed, the cost estimated",
    { timeout: 300_000 },
    async () => {
      const path = join(dir, "local.json");
      const p = smoke(["--cloud", "local", "--namespace", ns, "--json", path]);
      expect(await p.exit, p.output()).toBe(0);
      const r = report(path);
      expect(r.result).toBe("passed");
      expect(r.steps.map((s) => [s.name.replace(/ .*/, ""), s.status])).toEqual([
        ["preflight", "passed"],
        ["provision", "passed"],
        ["join", "passed"],
        ["model", "passed"],
        ["chat", "passed"],
        ...[0, 1, 2, 3, 4].map(() => ["teardown:", "passed"]),
      ]);
      expect(r.steps.find((s) => s.name === "chat completion")?.detail).toMatch(/^\d+ tokens$/);
      for (const s of r.steps) expect(s.seconds).toBeGreaterThanOrEqual(0);
      expect(r.pool.hourlyPriceUsd).toBe(0.35);
      expect(r.estimatedCostUsd).toBeGreaterThan(0);
      expect(r.estimatedCostUsd).toBeLessThan(0.35);
      await expectTornDown(r);
    },
  );

  it("Ctrl-C mid-run tears everything down and exits 130", { timeout: 120_000 }, async () => {
    const p = smoke(["--cloud", "local", "--namespace", ns]);
    await waitFor("the node to join", () => /join: passed/.test(p.output()), { timeoutMs: 60_000 });
    p.child.kill("SIGINT");
    expect(await p.exit).toBe(130);
    const group = /group (spillway-smoke-[0-9a-f]+) at desired 1/.exec(p.output())?.[1];
    expect(group, p.output()).toBeDefined();
    expect(p.output()).toContain(`teardown: spot group ${group}: passed`);
    expect(await groupExists(group!)).toBe(false);
  });

  it(
    "no operator watching the namespace: exit 2 naming it, and the node is removed again",
    { timeout: 120_000 },
    async () => {
      const other = uniqueName("smoke-nobody");
      await kubectl(["create", "namespace", other]);
      try {
        const path = join(dir, "no-operator.json");
        const p = smoke(["--cloud", "local", "--namespace", other, "--json", path]);
        expect(await p.exit, p.output()).toBe(2);
        expect(p.output()).toContain(`no operator reconciled InferenceModel ${other}/`);
        const r = report(path);
        expect(r.result).toBe("failed");
        expect(r.steps.find((s) => s.name === "model ready")?.status).toBe("failed");
        expect(await groupExists(r.pool.group)).toBe(false);
      } finally {
        await kubectl(["delete", "namespace", other, "--wait=false"]);
      }
    },
  );
});

describe("spillway smoke against real clouds: the checks before anything is provisioned", () => {
  const noCredentials = {
    AWS_ACCESS_KEY_ID: "",
    AWS_SECRET_ACCESS_KEY: "",
    AWS_PROFILE: "",
    AWS_WEB_IDENTITY_TOKEN_FILE: "",
    GOOGLE_APPLICATION_CREDENTIALS: "",
    GOOGLE_OAUTH_ACCESS_TOKEN: "",
    HCLOUD_TOKEN: "",
    KUBECONFIG: kubeconfig,
  };

  it.each([
    ["aws", "AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"],
    ["gcp", "GCP credentials (GOOGLE_APPLICATION_CREDENTIALS, a service account key file)"],
    ["hetzner", "HCLOUD_TOKEN (a Hetzner Cloud API token)"],
  ])("%s without credentials: exit 3, one line naming what is missing", async (cloud, missing) => {
    const p = smoke(["--cloud", cloud], noCredentials);
    expect(await p.exit).toBe(3);
    expect(p.output()).toContain(`spillway smoke: no credentials for ${cloud}: missing ${missing}`);
  });

  it("an API that does not answer: exit 2 naming the endpoint", async () => {
    const aws = smoke(["--cloud", "aws"], {
      ...noCredentials,
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "example",
      AWS_ENDPOINT_URL: "http://127.0.0.1:19",
    });
    expect(await aws.exit).toBe(2);
    expect(aws.output()).toContain("the AWS API at http://127.0.0.1:19 does not answer (ECONNREFUSED)");
    const hetzner = smoke(["--cloud", "hetzner"], {
      ...noCredentials,
      HCLOUD_TOKEN: "example",
      HCLOUD_ENDPOINT: "http://127.0.0.1:19/v1",
    });
    expect(await hetzner.exit).toBe(2);
    expect(hetzner.output()).toContain(
      "the Hetzner Cloud API at http://127.0.0.1:19/v1/locations does not answer",
    );
  });

  it("a config that does not validate, and an unknown flag: exit 3 naming the problem", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync("infra/config/dev.yaml", "utf8").replace("maxNodes: 6", "maxNodes: -1"));
    const config = smoke(["--cloud", "local", "--config", bad]);
    expect(await config.exit).toBe(3);
    expect(config.output()).toMatch(/maxNodes/);
    const flag = smoke(["--cloud", "local", "--nodes", "3"]);
    expect(await flag.exit).toBe(3);
    expect(flag.output()).toContain("Unknown option '--nodes'");
  });
});
