import type { TSchema } from "@sinclair/typebox";
import { BurstPoolSpec, BurstPoolStatus } from "./burst-pool.js";
import { GROUP, VERSION } from "./common.js";
import { ModelConditionType, PoolConditionType } from "./conditions.js";
import { InferenceModelSpec, InferenceModelStatus } from "./inference-model.js";

/** CustomResourceDefinitions generated from the schemas in this folder (`npm run crds` writes them). */

type Json = Record<string, unknown>;

/**
 * The schema as plain JSON (TypeBox's symbol keys dropped), with fields that have a default left out of
 * `required`: the API server fills them in, and it checks each default against the schema, so an object
 * default of {} may not have required children.
 */
function plain(schema: TSchema): Json {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== "object") return node;
    const out: Json = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, strip(v)]));
    const props = out.properties as Record<string, Json> | undefined;
    if (Array.isArray(out.required) && props) {
      const required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
      if (required.length) out.required = required;
      else delete out.required;
    }
    return out;
  };
  return strip(JSON.parse(JSON.stringify(schema))) as Json;
}

interface CrdOptions {
  kind: string;
  plural: string;
  shortNames?: string[];
  scope: "Namespaced" | "Cluster";
  spec: TSchema;
  status: TSchema;
  printerColumns: { name: string; type: string; jsonPath: string; priority?: number; description?: string }[];
}

function crd(o: CrdOptions) {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${o.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: o.kind,
        listKind: `${o.kind}List`,
        plural: o.plural,
        singular: o.kind.toLowerCase(),
        ...(o.shortNames ? { shortNames: o.shortNames } : {}),
        categories: ["spillway"],
      },
      scope: o.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: o.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: plain(o.spec),
                status: plain(o.status),
              },
            },
          },
        },
      ],
    },
  };
}

export const inferenceModelCrd = () =>
  crd({
    kind: "InferenceModel",
    plural: "inferencemodels",
    shortNames: ["im"],
    scope: "Namespaced",
    spec: InferenceModelSpec,
    status: InferenceModelStatus,
    printerColumns: [
      { name: "Model", type: "string", jsonPath: ".spec.model.uri" },
      {
        name: "Base",
        type: "string",
        jsonPath: ".status.replicas.base.summary",
        description: "ready/desired",
      },
      {
        name: "Burst",
        type: "string",
        jsonPath: ".status.replicas.burst.summary",
        description: "ready/desired",
      },
      { name: "Endpoint", type: "string", jsonPath: ".status.endpoint" },
      {
        name: "Ready",
        type: "string",
        jsonPath: `.status.conditions[?(@.type=="${ModelConditionType.Ready}")].status`,
      },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  });

export const burstPoolCrd = () =>
  crd({
    kind: "BurstPool",
    plural: "burstpools",
    scope: "Cluster",
    spec: BurstPoolSpec,
    status: BurstPoolStatus,
    printerColumns: [
      { name: "Provider", type: "string", jsonPath: ".spec.provider" },
      { name: "Region", type: "string", jsonPath: ".spec.region" },
      { name: "Group", type: "string", jsonPath: ".spec.group", priority: 1 },
      { name: "Desired", type: "integer", jsonPath: ".status.desiredNodes" },
      { name: "Ready", type: "integer", jsonPath: ".status.readyNodes" },
      { name: "Max", type: "integer", jsonPath: ".spec.maxNodes" },
      { name: "Price/h", type: "number", jsonPath: ".spec.hourlyPriceUsd" },
      { name: "Spend/h", type: "number", jsonPath: ".status.hourlySpendUsd" },
      {
        name: "Available",
        type: "string",
        jsonPath: `.status.conditions[?(@.type=="${PoolConditionType.Available}")].status`,
      },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  });

export const allCrds = () => [inferenceModelCrd(), burstPoolCrd()];
