import { describe, expect, it } from "vitest";
import { computeStatus, setCondition, type Observed } from "../../../src/operator/status.js";
import { inferenceModel, withSha } from "../../helpers/inference-models.js";

const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-01T00:01:00Z";
const dep = (replicas: number, ready: number, extra: Partial<Observed["base"]> = {}) => ({
  replicas,
  readyReplicas: ready,
  updatedReplicas: replicas,
  upToDate: true,
  ...extra,
});
const cond = (s: ReturnType<typeof computeStatus>, type: string) =>
  s.conditions?.find((c) => c.type === type);

describe("status", () => {
  it.each([
    { name: "no Deployment yet", observed: {}, ready: "False", reason: "DeploymentMissing" },
    { name: "base not ready", observed: { base: dep(2, 1) }, ready: "False", reason: "BaseNotReady" },
    {
      name: "base failing",
      observed: { base: dep(2, 0, { failure: { reason: "ProgressDeadlineExceeded", message: "stuck" } }) },
      ready: "False",
      reason: "ProgressDeadlineExceeded",
    },
    {
      name: "a server that could not load the model",
      observed: {
        base: dep(1, 0),
        modelFailure: { reason: "ModelChecksumMismatch", message: "pod m-1: checksum mismatch" },
      },
      ready: "False",
      reason: "ModelChecksumMismatch",
    },
    {
      name: "a stale model failure once enough replicas are ready",
      observed: {
        base: dep(2, 2),
        modelFailure: { reason: "ModelChecksumMismatch", message: "pod m-1: checksum mismatch" },
      },
      ready: "True",
      reason: "Serving",
    },
    {
      name: "all base replicas ready",
      observed: { base: dep(2, 2), burst: dep(0, 0) },
      ready: "True",
      reason: "Serving",
    },
  ])("$name → Ready=$ready ($reason)", ({ observed, ready, reason }) => {
    const s = computeStatus(inferenceModel("m"), observed, { base: 2, burst: 0 }, T0);
    expect(cond(s, "Ready")).toMatchObject({ status: ready, reason, observedGeneration: 1 });
  });

  it("reports replicas per tier, the endpoint and the digest the servers report (not the spec's)", () => {
    const s = computeStatus(
      inferenceModel("m", withSha("a".repeat(64))),
      { base: dep(2, 1), burst: dep(1, 1), modelDigest: "b".repeat(64) },
      { base: 2, burst: 1 },
      T0,
    );
    expect(
      computeStatus(inferenceModel("m", withSha("a".repeat(64))), {}, { base: 1, burst: 0 }, T0).modelDigest,
    ).toBeUndefined();
    expect(s.replicas).toEqual({
      base: { desired: 2, ready: 1, summary: "1/2" },
      burst: { desired: 1, ready: 1, summary: "1/1" },
    });
    expect(s.endpoint).toBe("http://m.ns.svc:8080/v1");
    expect(s.modelDigest).toBe(`sha256:${"b".repeat(64)}`);
    expect(cond(s, "Bursting")?.status).toBe("True");
    expect(cond(s, "Progressing")?.status).toBe("True");
  });

  it("keeps lastTransitionTime unless the status flips", () => {
    const first = setCondition([], { type: "Ready", status: "False", reason: "A", message: "" }, T0);
    const same = setCondition(first, { type: "Ready", status: "False", reason: "B", message: "x" }, T1);
    expect(same[0]).toMatchObject({ reason: "B", lastTransitionTime: T0 });
    const flipped = setCondition(same, { type: "Ready", status: "True", reason: "C", message: "" }, T1);
    expect(flipped[0]?.lastTransitionTime).toBe(T1);
    expect(flipped).toHaveLength(1);
  });

  it("computes the same status twice for the same observation (no churn)", () => {
    const m = inferenceModel("m");
    const s1 = computeStatus(m, { base: dep(1, 1) }, { base: 1, burst: 0 }, T0);
    const s2 = computeStatus({ ...m, status: s1 }, { base: dep(1, 1) }, { base: 1, burst: 0 }, T1);
    expect(s2).toEqual(s1);
  });
});
