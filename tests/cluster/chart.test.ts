import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { parse, stringify } from "yaml";
import { repoRoot, tool } from "../../src/lib/paths.js";
import { kubectlFor, uniqueName, simulatedNamespace } from "../helpers/kube.js";
import { startOperator, type OperatorProcess } from "../helpers/operator.js";
import { waitFor } from "../helpers/wait.js";

const execFileAsync = promisify(execFile);
const kubeconfig = inject("kubeconfig");
const kubectl = kubectlFor(kubeconfig);
const chart = join(repoRoot, "charts", "spillway");
const ns = uniqueName("spillway-system");
const helm = async (...args: string[]) =>
  (await execFileAsync(tool("helm"), [...args, "--kubeconfig", kubeconfig], { maxBuffer: 16 << 20 })).stdout;
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace(ns)));
});
afterAll(async () => {
  await operator?.kill();
  await helm("uninstall", "spillway", "-n", ns).catch(() => undefined);
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
});

describe("Helm chart", () => {
  it("lints, and rejects values that break its schema", async () => {
    expect(await helm("lint", chart)).toMatch(/0 chart\(s\) failed/);
    await expect(helm("template", "x", chart, "--set", "replicaCount=0")).rejects.toThrow(/replicaCount/);
  });

  it("renders the operator config from values and grants no wildcard", async () => {
    const docs = (await helm("template", "x", chart, "-n", ns, "--set", "operator.workers=7"))
      .split(/^---$/m)
      .map(
        (d) =>
          parse(d) as {
            kind?: string;
            data?: Record<string, string>;
            rules?: { verbs: string[]; resources: string[] }[];
          } | null,
      )
      .filter((d) => d?.kind);
    const config = parse(docs.find((d) => d?.kind === "ConfigMap")!.data!["config.yaml"]!) as {
      workers: number;
      leaderElection: { namespace: string };
    };
    expect(config.workers).toBe(7);
    expect(config.leaderElection.namespace).toBe(ns);
    for (const role of docs.filter((d) => d?.kind === "ClusterRole" || d?.kind === "Role")) {
      for (const rule of role!.rules!) {
        expect(rule.verbs).not.toContain("*");
        expect(rule.resources).not.toContain("*");
        // The deletions the operator makes: a burst Deployment it no longer wants, a pod late in a spot
        // interruption notice, the Node of an instance gone from its pool.
        if (rule.verbs.includes("delete"))
          expect([["deployments"], ["pods"], ["nodes"]]).toContainEqual(rule.resources);
      }
    }
  });

  it("takes cloud credentials from Secrets only, and the pool settings from values", async () => {
    const docs = (
      await helm(
        "template",
        "x",
        chart,
        "-n",
        ns,
        "--set",
        "cloud.aws.credentialsSecret=aws-creds",
        "--set",
        "cloud.gcp.credentialsSecret=gcp-key",
        "--set",
        "operator.pools.joinTimeoutSeconds=90",
      )
    )
      .split(/^---$/m)
      .map((d) => parse(d))
      .filter((d) => d?.kind);
    const pod = docs.find((d) => d.kind === "Deployment").spec.template.spec;
    const container = pod.containers[0];
    expect(container.envFrom).toEqual([{ secretRef: { name: "aws-creds" } }]);
    expect(container.env).toContainEqual({
      name: "GOOGLE_APPLICATION_CREDENTIALS",
      value: "/var/run/secrets/spillway/gcp/key.json",
    });
    expect(pod.volumes).toContainEqual({
      name: "gcp-credentials",
      secret: { secretName: "gcp-key", items: [{ key: "key.json", path: "key.json" }] },
    });
    const config = parse(docs.find((d) => d.kind === "ConfigMap").data["config.yaml"]);
    expect(config.pools).toMatchObject({ joinTimeoutSeconds: 90, aws: { enabled: true } });
    await expect(helm("template", "x", chart, "--set", "cloud.aws.accessKey=AKIA")).rejects.toThrow(
      /accessKey/,
    );
  });

  it("installs into the local control plane with two operator replicas", async () => {
    await helm("install", "spillway", chart, "-n", ns, "--wait", "--timeout", "60s");
    const d = await kubectl.json<{ status: { readyReplicas?: number } }>([
      "get",
      "deploy",
      "spillway-operator",
      "-n",
      ns,
    ]);
    expect(d.status.readyReplicas).toBe(2);
    await kubectl(["get", "crd", "inferencemodels.spillway.dev", "burstpools.spillway.dev"]);
  });

  it("grants the operator's ServiceAccount what it needs and no more", async () => {
    const sa = `system:serviceaccount:${ns}:spillway-operator`;
    // can-i answers on stdout and exits 1 for "no".
    const can = async (...args: string[]) =>
      (
        await execFileAsync(tool("kubectl"), [
          "--kubeconfig",
          kubeconfig,
          "auth",
          "can-i",
          ...args,
          "--as",
          sa,
        ]).catch((e: unknown) => ({ stdout: (e as { stdout?: string }).stdout ?? "" }))
      ).stdout.trim();
    expect(await can("patch", "deployments", "-n", "default")).toBe("yes");
    expect(await can("patch", "inferencemodels.spillway.dev", "--subresource=status", "-n", "default")).toBe(
      "yes",
    );
    expect(await can("patch", "inferencemodels.spillway.dev", "-n", "default")).toBe("no");
    expect(await can("delete", "services", "-n", "default")).toBe("no");
    expect(await can("delete", "nodes")).toBe("yes");
    expect(await can("delete", "persistentvolumes")).toBe("no");
    expect(await can("get", "secrets", "-n", "default")).toBe("no");
    expect(await can("update", "inferencemodels.spillway.dev", "-n", "default")).toBe("no");
    expect(await can("update", "leases", "-n", "default")).toBe("no");
  });

  it("is enough for the operator to serve a model with the ServiceAccount's own token", async () => {
    // Stop the chart's (simulated) replicas from competing for the lease with the real process below.
    await kubectl(["scale", "deploy", "spillway-operator", "-n", ns, "--replicas=0"]);
    const token = (
      await kubectl(["create", "token", "spillway-operator", "-n", ns, "--duration=10m"])
    ).trim();
    const admin = parse(readFileSync(kubeconfig, "utf8")) as {
      clusters: { cluster: Record<string, string> }[];
    };
    const saConfig = join(mkdtempSync(join(tmpdir(), "spillway-sa-")), "kubeconfig");
    writeFileSync(
      saConfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "local", cluster: admin.clusters[0]!.cluster }],
        users: [{ name: "operator", user: { token } }],
        contexts: [{ name: "local", context: { cluster: "local", user: "operator" } }],
        "current-context": "local",
      }),
    );
    // Only this test's namespace: other files' namespaces may be terminating, where writes are refused.
    const modelNs = uniqueName("rbac");
    await kubectl(["apply", "-f", "-"], JSON.stringify(simulatedNamespace(modelNs)));
    operator = await startOperator({
      kubeconfig: saConfig,
      identity: "sa-operator",
      leaseNamespace: ns,
      config: { namespaces: [modelNs] },
    });
    await waitFor("leads", async () => (await operator!.metric("spillway_operator_leader")) === 1, {
      timeoutMs: 15_000,
    });
    await kubectl(
      ["apply", "-f", "-"],
      stringify({
        apiVersion: "spillway.dev/v1alpha1",
        kind: "InferenceModel",
        metadata: { name: "rbac-check", namespace: modelNs },
        spec: { model: { uri: "https://models.example/tiny.gguf" } },
      }),
    );
    await waitFor(
      "rbac-check Ready",
      async () =>
        (await kubectl([
          "get",
          "im",
          "rbac-check",
          "-n",
          modelNs,
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ])) === "True",
    );
    expect(operator.output()).not.toMatch(/forbidden/i);
    await kubectl(["delete", "namespace", modelNs, "--wait=false"]);
  });
});
