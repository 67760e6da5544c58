/**
 * docs/crds.md, the CRD reference, rendered from the same CRD objects `npm run crds` writes into the chart
 * (src/api). `npm run crds` writes both; tests/unit/docs.test.ts fails when the committed file differs.
 */
import { format, resolveConfig } from "prettier";
import { allCrds } from "../src/api/crds.js";
import { GROUP, VERSION } from "../src/api/common.js";

type Json = Record<string, unknown>;

interface Row {
  field: string;
  type: string;
  required: boolean;
  default?: unknown;
  constraints: string[];
  description: string;
}

const code = (s: string) => `\`${s.replace(/\|/g, "\\|")}\``;
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function typeOf(s: Json): string {
  if (s["x-kubernetes-int-or-string"]) return "quantity";
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  if (s.type === "array") return `${typeOf((s.items ?? {}) as Json)}[]`;
  if (s.type === "object" && !s.properties && s.additionalProperties) {
    return `map of ${typeOf(s.additionalProperties as Json)}`;
  }
  return typeof s.type === "string" ? s.type : "any";
}

function constraintsOf(s: Json): string[] {
  const out: string[] = [];
  const range = (lo: string, hi: string, unit: string) => {
    const min = s[lo] as number | undefined;
    const max = s[hi] as number | undefined;
    if (min !== undefined && max !== undefined) out.push(`${unit}${min}…${max}`);
    else if (min !== undefined) out.push(`${unit}≥ ${min}`);
    else if (max !== undefined) out.push(`${unit}≤ ${max}`);
  };
  range("minimum", "maximum", "");
  range("minLength", "maxLength", "length ");
  range("minItems", "maxItems", "items ");
  // A quantity's pattern is Kubernetes' own and long; its type says enough.
  if (typeof s.pattern === "string" && !s["x-kubernetes-int-or-string"])
    out.push(`pattern ${code(s.pattern)}`);
  if (s["x-kubernetes-list-type"] === "map") {
    out.push(`list keyed by ${(s["x-kubernetes-list-map-keys"] as string[]).map(code).join(", ")}`);
  }
  for (const v of (s["x-kubernetes-validations"] ?? []) as { rule: string; message: string }[]) {
    out.push(`rule ${code(v.rule)}: ${v.message}`);
  }
  return out;
}

/** One row per field, depth first, with array items' fields under `name[]`. */
function rows(schema: Json, path: string, required: boolean): Row[] {
  const own: Row = {
    field: path,
    type: typeOf(schema),
    required,
    default: schema.default,
    constraints: constraintsOf(schema),
    description: typeof schema.description === "string" ? schema.description : "",
  };
  const items = schema.type === "array" ? (schema.items as Json | undefined) : undefined;
  const holder = items?.properties ? items : schema;
  const prefix = holder === items ? `${path}[]` : path;
  const props = (holder.properties ?? {}) as Record<string, Json>;
  const req = new Set((holder.required ?? []) as string[]);
  const children = Object.entries(props).flatMap(([k, v]) => rows(v, `${prefix}.${k}`, req.has(k)));
  // The holder of an array's items carries its own rules; show them on the array's row.
  if (holder === items) own.constraints.push(...constraintsOf(items));
  return [own, ...children];
}

function table(schema: Json, root: string): string {
  const lines = [
    "| field | type | required | default | constraints | description |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows(schema, root, true)) {
    const def = r.default === undefined ? "" : code(JSON.stringify(r.default));
    lines.push(
      `| ${code(r.field)} | ${r.type} | ${r.required ? "yes" : ""} | ${def} | ${r.constraints.join("; ")} | ${cell(r.description)} |`,
    );
  }
  return lines.join("\n");
}

/** The Markdown of docs/crds.md, formatted as prettier would. */
export async function renderCrdDocs(): Promise<string> {
  const parts = [
    "# CRD reference",
    "",
    `<!-- Generated from src/api by \`npm run crds\` (scripts/crd-docs.ts); do not edit. -->`,
    "",
    `The custom resources of the group \`${GROUP}/${VERSION}\`, field by field, from the schemas in \`src/api\``,
    "that are also the CRDs' OpenAPI schemas (`charts/spillway/crds`) and the operator's types. A field with a",
    "default is filled in by the API server; rules are CEL validations the API server checks at `kubectl apply`.",
    "What the operator does with each field is in [operator.md](operator.md).",
  ];
  for (const crd of allCrds()) {
    const names = crd.spec.names as { kind: string; plural: string; shortNames?: string[] };
    const [version] = crd.spec.versions;
    if (!version) continue;
    const props = version.schema.openAPIV3Schema.properties as { spec: Json; status: Json };
    parts.push(
      "",
      `## ${names.kind}`,
      "",
      `${crd.spec.scope === "Cluster" ? "Cluster-scoped" : "Namespaced"}; plural \`${names.plural}\`` +
        (names.shortNames
          ? `, short name${names.shortNames.length > 1 ? "s" : ""} ${names.shortNames.map(code).join(", ")}`
          : "") +
        ". `kubectl get` shows: " +
        version.additionalPrinterColumns
          .map((c) => `${c.name} (${code(c.jsonPath)}${c.priority ? ", with `-o wide`" : ""})`)
          .join(", ") +
        ".",
      "",
      "### spec",
      "",
      table(props.spec, "spec"),
      "",
      "### status",
      "",
      "Written by the operator only.",
      "",
      table(props.status, "status"),
    );
  }
  const text = parts.join("\n") + "\n";
  const options = (await resolveConfig(new URL("../docs/crds.md", import.meta.url).pathname)) ?? {};
  return format(text, { ...options, parser: "markdown" });
}
