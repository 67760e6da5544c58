import { describe, expect, it } from "vitest";
import { plan, prune, type KubeObject, type PlanConfig } from "../../../src/operator/plan.js";
import { inferenceModel, withBase, withBurst, withServer, withSha } from "../../helpers/inference-models.js";

const config: PlanConfig = {
  defaultImage: "localhost/spillway-inference:0.1.0",
  drainGraceSeconds: 30,
  modelCacheSize: "20Gi",
};
const byKind = (objs: KubeObject[], kind: string, name?: string) =>
  objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name)) as any;
const env = (d: any) =>
  Object.fromEntries(
    d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]),
  );

describe("plan", () => {
  it("makes a base and a burst Deployment, one Service and a PDB, all owned by the model", () => {
    const objs = plan(inferenceModel("m", withBurst(4)), { base: 2, burst: 0 }, config);
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "Deployment/m-base",
      "Deployment/m-burst",
      "Service/m",
      "PodDisruptionBudget/m",
    ]);
    for (const o of objs) {
      expect(o.metadata.namespace).toBe("ns");
      expect(o.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: "InferenceModel", name: "m", uid: "uid-m", controller: true }),
      ]);
    }
  });

  it.each([
    { tier: "base", replicas: 2, toleration: false },
    { tier: "burst", replicas: 3, toleration: true },
  ])(
    "the $tier Deployment requires $tier nodes (spot toleration: $toleration)",
    ({ tier, replicas, toleration }) => {
      const d = byKind(
        plan(inferenceModel("m", withBurst(4)), { base: 2, burst: 3 }, config),
        "Deployment",
        `m-${tier}`,
      );
      expect(d.spec.replicas).toBe(replicas);
      const pod = d.spec.template.spec;
      expect(
        pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms,
      ).toEqual([
        {
          matchExpressions: [
            { key: "spillway.dev/tier", operator: "In", values: [tier] },
            // Burst replicas only on the pools the model names.
            ...(tier === "burst" ? [{ key: "spillway.dev/pool", operator: "In", values: ["spot-aws"] }] : []),
          ],
        },
      ]);
      expect(pod.tolerations?.some((t: any) => t.key === "spillway.dev/spot")).toBe(
        toleration ? true : undefined,
      );
      expect(d.spec.selector.matchLabels).toEqual({ "spillway.dev/model": "m", "spillway.dev/tier": tier });
    },
  );

  it("hardens the pod: non-root, read-only root, no privilege escalation, probes, drain", () => {
    const pod = byKind(plan(inferenceModel("m"), { base: 1, burst: 0 }, config), "Deployment", "m-base").spec
      .template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(c.readinessProbe.httpGet.path).toBe("/ready");
    expect(c.livenessProbe.httpGet.path).toBe("/health");
    expect(c.lifecycle.preStop).toBeDefined();
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30);
    expect(pod.volumes.find((v: any) => v.name === "model-cache").emptyDir.sizeLimit).toBe("20Gi");
    expect(c.volumeMounts.map((m: any) => m.mountPath)).toContain("/var/cache/spillway");
  });

  it("maps the spec onto the server's configuration", () => {
    const model = inferenceModel(
      "m",
      withSha("a".repeat(64)),
      withServer({
        parallel: 8,
        threads: 2,
        servedModelNames: ["gpt-4o-mini", "default"],
        image: "registry.example/inf:1",
        apiKeySecretRef: { name: "s", key: "k" },
        env: [{ name: "SPILLWAY_LOG_LEVEL", value: "debug" }],
      }),
    );
    const d = byKind(plan(model, { base: 1, burst: 0 }, config), "Deployment", "m-base");
    expect(d.spec.template.spec.containers[0].image).toBe("registry.example/inf:1");
    expect(env(d)).toMatchObject({
      SPILLWAY_MODEL: "https://models.example/m.gguf",
      SPILLWAY_MODEL_SHA256: "a".repeat(64),
      SPILLWAY_MODEL_ID: "m",
      SPILLWAY_PARALLEL: "8",
      SPILLWAY_THREADS: "2",
      SPILLWAY_SERVED_MODEL_NAMES: "gpt-4o-mini,default",
      SPILLWAY_CONTEXT_SIZE: "2048",
      SPILLWAY_HOST: "0.0.0.0",
      SPILLWAY_API_KEY: { secretKeyRef: { name: "s", key: "k" } },
      SPILLWAY_LOG_LEVEL: "debug",
    });
  });

  it("uses the default image and resources when the spec names none", () => {
    const c = byKind(
      plan(inferenceModel("m", withBase(1)), { base: 1, burst: 0 }, config),
      "Deployment",
      "m-base",
    ).spec.template.spec.containers[0];
    expect(c.image).toBe(config.defaultImage);
    expect(c.resources.requests).toEqual({ cpu: "1", memory: "1Gi" });
  });

  it("serves both tiers from one Service on port 8080 and budgets one disruption at a time", () => {
    const objs = plan(inferenceModel("m", withBurst(2)), { base: 1, burst: 1 }, config);
    expect(byKind(objs, "Service").spec).toMatchObject({
      selector: { "spillway.dev/model": "m" },
      ports: [{ port: 8080 }],
    });
    expect(byKind(objs, "PodDisruptionBudget").spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { "spillway.dev/model": "m" } },
    });
  });

  it("gives a model that may not burst no burst Deployment, and prunes one it had", () => {
    const kinds = plan(inferenceModel("m"), { base: 1, burst: 0 }, config).map((o) => o.metadata.name);
    expect(kinds).toEqual(["m-base", "m", "m"]);
    expect(prune(inferenceModel("m"))).toEqual([{ kind: "Deployment", name: "m-burst" }]);
    expect(prune(inferenceModel("m", withBurst(2)))).toEqual([]);
  });

  it("is a pure function: the same input gives the same objects", () => {
    const m = inferenceModel("m");
    expect(plan(m, { base: 1, burst: 0 }, config)).toEqual(plan(m, { base: 1, burst: 0 }, config));
  });
});
