import { Value } from "@sinclair/typebox/value";
import { InferenceModelSpec, type InferenceModel } from "../../src/api/inference-model.js";

type DeepPartial<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends unknown[] | string | number | boolean
    ? T[K]
    : NonNullable<T[K]> extends object
      ? DeepPartial<NonNullable<T[K]>>
      : T[K];
};

/** Builder fixture: `inferenceModel("m", withBurst(5))`. Defaults are the CRD's own. */
export function inferenceModel(
  name: string,
  ...mods: ((spec: DeepPartial<InferenceModel["spec"]>) => void)[]
): InferenceModel {
  const spec: DeepPartial<InferenceModel["spec"]> = { model: { uri: "https://models.example/m.gguf" } };
  for (const m of mods) m(spec);
  return {
    apiVersion: "spillway.dev/v1alpha1",
    kind: "InferenceModel",
    metadata: { name, namespace: "ns", uid: `uid-${name}`, generation: 1 },
    spec: Value.Default(InferenceModelSpec, spec) as InferenceModel["spec"],
  };
}

export const withBurst =
  (max: number, pools = ["spot-aws"], min = 0) =>
  (s: DeepPartial<InferenceModel["spec"]>) => {
    s.replicas = { ...s.replicas, burst: { min, max, pools } };
  };
export const withBase =
  (min: number, max = min) =>
  (s: DeepPartial<InferenceModel["spec"]>) => {
    s.replicas = { ...s.replicas, base: { min, max } };
  };
export const withServer =
  (server: DeepPartial<InferenceModel["spec"]["server"]>) => (s: DeepPartial<InferenceModel["spec"]>) => {
    s.server = { ...s.server, ...server };
  };
export const withSha = (sha256: string) => (s: DeepPartial<InferenceModel["spec"]>) => {
  s.model = { ...s.model, sha256 };
};
export const withAutoscaling =
  (a: DeepPartial<NonNullable<InferenceModel["spec"]["autoscaling"]>>) =>
  (s: DeepPartial<InferenceModel["spec"]>) => {
    s.autoscaling = { ...s.autoscaling, ...a };
  };
export const withBudget = (maxSpotHourlyUsd: number) => (s: DeepPartial<InferenceModel["spec"]>) => {
  s.budget = { maxSpotHourlyUsd };
};
