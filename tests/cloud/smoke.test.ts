import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  AutoScalingClient,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from "@aws-sdk/client-auto-scaling";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { CloudNodes, emulatedGroup } from "../../testbed/cluster/cloud-nodes.js";
import type { SmokeReport } from "../../src/cli/smoke/run.js";
import { kubectlFor, uniqueName } from "../helpers/kube.js";
import { startOperator, type OperatorProcess } from "../helpers/operator.js";
import { spawnTs } from "../helpers/process.js";
import { defaultStateDir } from "../../testbed/cluster/cluster.js";
import { spotNodes } from "../../testbed/cluster/spot-node.js";
import { waitFor } from "../helpers/wait.js";

// `spillway smoke` as a platform engineer runs it. `--cloud local`: against the local cluster and the AWS
// emulator, with a BurstPool of the run's own; the operator sizes its emulated group, whose instance boots
// as a real spot node, and the burst replica there answers. `--cloud aws` with AWS_ENDPOINT_URL:
// the fleet path itself (the fleet's BurstPool, the model in the stack's bucket, the burst replica asked
// over the API server's proxy), here against the emulator, where the spot node's replica is simulated and
// cannot answer: the run fails at the chat and still drains and removes everything it made. The real
// clouds' checks run here too: without credentials, or with an API that does not answer, a run stops
// before it provisions anything.
const kubeconfig = inject("kubeconfig");
const awsEndpoint = inject("awsEndpoint");
const region = "eu-central-1";
const kubectl = kubectlFor(kubeconfig);
const ns = uniqueName("smoke");
const dir = mkdtempSync(join(tmpdir(), "spillway-smoke-"));
const aws = { endpoint: awsEndpoint, region, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
const autoscaling = new AutoScalingClient(aws);
const s3 = new S3Client({ ...aws, forcePathStyle: true });
let operator: OperatorProcess;

/** The command as a process, with `env` over this one's. */
const smoke = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnTs("testbed/main.ts", ["smoke", ...args], env);

async function group(name: string) {
  const out = await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  return out.AutoScalingGroups?.[0];
}

/** Nothing of the run is left: the model, the pool's nodes, the model file. */
async function expectTornDown(r: SmokeReport) {
  const models = await kubectl(["get", "im", "-n", ns, "-l", "spillway.dev/smoke=true", "-o", "name"]);
  expect(models.trim()).toBe("");
  const nodes = await kubectl(["get", "nodes", "-l", `spillway.dev/pool=${r.pool?.name}`, "-o", "name"]);
  expect(nodes.trim()).toBe("");
  // Nothing of a real spot node is left on the host: no folder, no network namespace.
  expect(spotNodes(defaultStateDir())).toEqual([]);
  expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toMatch(/spw-s\d+/);
}

const report = (path: string) => JSON.parse(readFileSync(path, "utf8")) as SmokeReport;
const stepNames = (r: SmokeReport) => r.steps.map((s) => [s.name.replace(/:? .*/, ""), s.status]);

beforeAll(async () => {
  await kubectl(["create", "namespace", ns]);
  // The operator sizes the pools its models name; it removes an empty spot node after 2 s, not 120.
  operator = await startOperator({
    kubeconfig,
    identity: ns,
    leaseNamespace: ns,
    config: {
      namespaces: [ns],
      pools: {
        intervalSeconds: 1,
        emptyNodeCooldownSeconds: 2,
        aws: { endpoint: awsEndpoint },
        gcp: { enabled: false },
      },
    },
    env: { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_REGION: region },
  });
}, 120_000);
afterAll(async () => {
  await operator.stop();
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
});

describe("spillway smoke --cloud local", () => {
  it(
    "the operator spills the smoke replica onto a real spot node, the burst replica there answers, the node is drained; every step timed, the cost estimated",
    { timeout: 420_000 },
    async () => {
      const path = join(dir, "local.json");
      const p = smoke(["--cloud", "local", "--namespace", ns, "--json", path]);
      expect(await p.exit, p.output()).toBe(0);
      const r = report(path);
      expect(r.result).toBe("passed");
      expect(stepNames(r)).toEqual([
        ["preflight", "passed"],
        ["pool", "passed"],
        ["model", "passed"],
        ["spot", "passed"],
        ["model", "passed"],
        ["chat", "passed"],
        ...[0, 1, 2, 3, 4, 5].map(() => ["teardown", "passed"]),
      ]);
      // The burst replica answered, on the spot node the run's instance became (a real kubelet, not kwok).
      const answer = /^\d+ tokens from (smoke-[0-9a-f]+-burst-\S+) on (\S+)$/.exec(
        r.steps.find((s) => s.name === "chat completion")?.detail ?? "",
      );
      expect(answer, JSON.stringify(r.steps)).not.toBeNull();
      expect(answer?.[2]).toBe(r.node?.name);
      expect(r.node?.joined).toBe(true);
      expect(r.node?.name).toMatch(new RegExp(`^${r.pool?.name}-i-`));
      expect(p.output()).toMatch(new RegExp(`joined ${r.pool?.name} as ${r.node?.name} in [0-9.]+s`));
      expect(r.steps.find((s) => s.name.startsWith("teardown: spot node"))?.detail).toMatch(
        /^the operator removed /,
      );
      for (const s of r.steps) expect(s.seconds).toBeGreaterThanOrEqual(0);
      expect(r.pool?.hourlyPriceUsd).toBe(0.35);
      expect(r.estimatedCostUsd).toBeGreaterThan(0);
      expect(r.estimatedCostUsd).toBeLessThan(0.35);
      await expectTornDown(r);
      expect(await group(r.pool!.group)).toBeUndefined();
      expect((await kubectl(["get", "burstpool", r.pool!.name, "--ignore-not-found"])).trim()).toBe("");
    },
  );

  it("Ctrl-C mid-run tears everything down and exits 130", { timeout: 420_000 }, async () => {
    const p = smoke(["--cloud", "local", "--namespace", ns]);
    await waitFor("the node to join", () => /spot node: passed/.test(p.output()), { timeoutMs: 90_000 });
    p.child.kill("SIGINT");
    expect(await p.exit, p.output()).toBe(130);
    const asg = /over group (spillway-smoke-[0-9a-f]+)/.exec(p.output())?.[1];
    expect(asg, p.output()).toBeDefined();
    expect(p.output()).toContain(`teardown: spot group ${asg}: passed`);
    expect(await group(asg!)).toBeUndefined();
  });

  it(
    "no operator watching the namespace: exit 2 naming it, and the pool is removed again",
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
        expect(r.steps.find((s) => s.name === "model")?.status).toBe("failed");
        expect(await group(r.pool!.group)).toBeUndefined();
      } finally {
        await kubectl(["delete", "namespace", other, "--wait=false"]);
      }
    },
  );
});

describe("spillway smoke --cloud aws, the fleet path, against the AWS emulator", () => {
  // A fleet of the test's own: a config with a fresh project (so its pool and bucket names are new), the
  // group the aws-spot stack would have made, the BurstPool `npm run infra:pools` would have written, and
  // the test bed's stand-in for cloud-init joining its instances.
  const project = `s${randomBytes(3).toString("hex")}`;
  const configFile = join(dir, "fleet.yaml");
  const raw = parse(readFileSync("infra/config/dev.yaml", "utf8")) as Record<string, any>;
  raw.project = project;
  raw.aws.bucket = `${project}-models`;
  const pool = `${project}-dev-spot-${region}`;
  let joiner: CloudNodes;

  beforeAll(async () => {
    writeFileSync(configFile, stringify(raw));
    await emulatedGroup({ ...aws, name: pool, maxSize: 1 });
    await s3.send(
      new CreateBucketCommand({
        Bucket: raw.aws.bucket,
        CreateBucketConfiguration: { LocationConstraint: region },
      }),
    );
    await kubectl(
      ["apply", "-f", "-"],
      stringify({
        apiVersion: "spillway.dev/v1alpha1",
        kind: "BurstPool",
        metadata: { name: pool },
        spec: {
          provider: "aws",
          region,
          group: pool,
          nodeCapacity: { cpu: 4, memory: "16Gi" },
          maxNodes: 1,
          hourlyPriceUsd: 0.35,
        },
      }),
    );
    const version = JSON.parse(await kubectl(["version", "-o", "json"])) as {
      serverVersion: { gitVersion: string };
    };
    // A simulated node on purpose: its replica joins and is scheduled but can never answer, which is the
    // failure this story is about.
    joiner = new CloudNodes({
      kubectl,
      autoscaling,
      kubeletVersion: version.serverVersion.gitVersion,
      pools: [{ name: pool, group: pool, region, cpu: "4", memory: "16Gi" }],
      nodes: { kind: "kwok" },
    });
    joiner.start();
  }, 60_000);
  afterAll(async () => {
    await joiner.stop();
    await kubectl(["delete", "burstpool", pool, "--ignore-not-found"]);
    await autoscaling
      .send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: pool, ForceDelete: true }))
      .catch(() => undefined);
  });

  it(
    "a spot replica that does not answer fails the run (exit 1); the node is still drained, the model and its file removed",
    { timeout: 420_000 },
    async () => {
      const path = join(dir, "fleet.json");
      const p = smoke(["--cloud", "aws", "--config", configFile, "--namespace", ns, "--json", path], {
        KUBECONFIG: kubeconfig,
        AWS_ENDPOINT_URL: awsEndpoint,
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
        AWS_REGION: region,
      });
      expect(await p.exit, p.output()).toBe(1);
      const r = report(path);
      expect(r.result).toBe("failed");
      expect(r.pool).toMatchObject({ name: pool, group: pool, hourlyPriceUsd: 0.35 });
      expect(stepNames(r)).toEqual([
        ["preflight", "passed"],
        ["pool", "passed"],
        ["model", "passed"],
        ["spot", "passed"],
        ["model", "passed"],
        ["chat", "failed"],
        ...[0, 1, 2].map(() => ["teardown", "passed"]),
      ]);
      expect(r.steps[0]?.detail).toMatch(
        new RegExp(`^BurstPool ${pool} over ${pool}: desired 0, 0 instance`),
      );
      // The stack's bucket, read through a URL signed for the run, which the report does not show.
      expect(r.steps[2]?.detail).toBe(
        `s3://${raw.aws.bucket}/spillway-smoke/${r.runId}/tiny.gguf (a URL signed for 1 h), reconciled`,
      );
      expect(p.output()).not.toContain("X-Amz-Signature");
      expect(r.error).toMatch(new RegExp(`^smoke-[0-9a-f]+-burst-\\S+ on ${pool}-i-\\S+ did not answer`));
      expect(r.node?.joined).toBe(true);
      await expectTornDown(r);
      const after = await group(pool);
      expect(after?.DesiredCapacity).toBe(0);
      expect(after?.Instances ?? []).toEqual([]);
      const files = await s3.send(new ListObjectsV2Command({ Bucket: raw.aws.bucket }));
      expect(files.KeyCount ?? 0).toBe(0);
    },
  );

  it("a fleet without the BurstPool: exit 3 naming it and how to apply it", async () => {
    const other = join(dir, "other.yaml");
    writeFileSync(other, stringify({ ...raw, project: `${project}x` }));
    const p = smoke(["--cloud", "aws", "--config", other, "--namespace", ns], {
      KUBECONFIG: kubeconfig,
      AWS_ENDPOINT_URL: awsEndpoint,
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    });
    expect(await p.exit, p.output()).toBe(3);
    expect(p.output()).toContain(`no BurstPool ${project}x-dev-spot-${region} in the fleet's cluster`);
    expect(p.output()).toContain("infra:pools -- --outputs outputs.json | kubectl apply -f -");
  });
});

describe("spillway smoke against real clouds: the checks before anything is provisioned", () => {
  const noCredentials = {
    AWS_ACCESS_KEY_ID: "",
    AWS_SECRET_ACCESS_KEY: "",
    AWS_PROFILE: "",
    AWS_WEB_IDENTITY_TOKEN_FILE: "",
    GOOGLE_APPLICATION_CREDENTIALS: "",
    CLOUDSDK_CONFIG: dir,
    HCLOUD_TOKEN: "",
    KUBECONFIG: kubeconfig,
  };

  it.each([
    ["aws", "AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"],
    [
      "gcp",
      "GCP credentials (GOOGLE_APPLICATION_CREDENTIALS, a service account key file, or `gcloud auth application-default login`)",
    ],
    ["hetzner", "HCLOUD_TOKEN (a Hetzner Cloud API token)"],
  ])("%s without credentials: exit 3, one line naming what is missing", async (cloud, missing) => {
    const p = smoke(["--cloud", cloud], noCredentials);
    expect(await p.exit).toBe(3);
    expect(p.output()).toContain(`spillway smoke: no credentials for ${cloud}: missing ${missing}`);
  });

  it("hetzner with a token the API accepts: exit 3, the base has no spot pool, nothing provisioned", async () => {
    const seen: string[] = [];
    const api = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.setHeader("content-type", "application/json").end('{"locations":[]}');
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    try {
      const { port } = api.address() as AddressInfo;
      const p = smoke(["--cloud", "hetzner"], {
        ...noCredentials,
        HCLOUD_TOKEN: "example",
        HCLOUD_ENDPOINT: `http://127.0.0.1:${port}/v1`,
      });
      expect(await p.exit, p.output()).toBe(3);
      expect(p.output()).toContain(
        "Hetzner runs the fleet's base, which has no spot pool to provision a node in",
      );
      expect(seen).toEqual(["GET /v1/locations Bearer example"]);
    } finally {
      api.close();
    }
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
