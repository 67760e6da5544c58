import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../src/lib/errors.js";
import { repoRoot } from "../../src/lib/paths.js";

/**
 * Google's discovery document for the Compute Engine API (compute.v1.json), as `npm run tools` installs it
 * from Google's Python client (scripts/tools.sh, gce-discovery). Only the parts the stand-in reads are typed.
 */

/** A schema, a property or a method parameter: discovery uses one shape for all three. */
export interface DiscoverySchema {
  id?: string;
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean" | "any";
  /** int64/uint64 travel as JSON strings, int32/uint32 as numbers. */
  format?: string;
  $ref?: string;
  properties?: Record<string, DiscoverySchema>;
  /** The value schema of a map (`labels`). */
  additionalProperties?: DiscoverySchema;
  items?: DiscoverySchema;
  enum?: string[];
  pattern?: string;
  minimum?: string;
  /** Parameters only. */
  required?: boolean;
  repeated?: boolean;
  location?: "path" | "query";
  /** Methods (by id) whose request body must carry this property. */
  annotations?: { required?: string[] };
}

export interface DiscoveryMethod {
  id: string;
  httpMethod: string;
  /** Relative to the document's basePath, with `{name}` and `{+name}` parameters. */
  path: string;
  parameters?: Record<string, DiscoverySchema>;
  request?: { $ref: string };
  response?: { $ref: string };
}

interface DiscoveryResource {
  methods?: Record<string, DiscoveryMethod>;
  resources?: Record<string, DiscoveryResource>;
}

export interface DiscoveryDoc {
  name: string;
  version: string;
  revision: string;
  /** `/compute/v1/` */
  basePath: string;
  /** System parameters every method takes (alt, fields, prettyPrint, quotaUser, ...). */
  parameters: Record<string, DiscoverySchema>;
  schemas: Record<string, DiscoverySchema>;
  resources: Record<string, DiscoveryResource>;
}

/** Where `npm run tools` puts it. */
export const DEFAULT_DISCOVERY_PATH = join(repoRoot, ".tools", "share", "gce", "compute.v1.json");

export function loadDiscovery(path = DEFAULT_DISCOVERY_PATH): DiscoveryDoc {
  if (!existsSync(path)) {
    throw new UserError(
      `Google's Compute API schema is missing (${path})`,
      "run `npm run tools -- gce-discovery`",
      3,
    );
  }
  const doc = JSON.parse(readFileSync(path, "utf8")) as DiscoveryDoc;
  if (doc.name !== "compute" || doc.version !== "v1") {
    throw new UserError(`${path} is not the Compute API v1 discovery document`, "run `npm run tools`", 3);
  }
  return doc;
}

/** Every method of the document, by id (`compute.regionInstanceGroupManagers.resize`). */
export function methodsById(doc: DiscoveryDoc): Map<string, DiscoveryMethod> {
  const out = new Map<string, DiscoveryMethod>();
  const walk = (resources: Record<string, DiscoveryResource>) => {
    for (const r of Object.values(resources)) {
      for (const m of Object.values(r.methods ?? {})) out.set(m.id, m);
      walk(r.resources ?? {});
    }
  };
  walk(doc.resources);
  return out;
}

export interface MatchedMethod {
  method: DiscoveryMethod;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
}

/**
 * A router over the document's own path templates: (HTTP method, path below basePath) → method and path
 * parameters. Templates with more literal segments win (`instances/bulkInsert` over `instances/{instance}`).
 */
export function router(doc: DiscoveryDoc, only?: ReadonlySet<string>) {
  const routes = [...methodsById(doc).values()]
    .filter((m) => !only || only.has(m.id))
    .map((m) => {
      const names: string[] = [];
      const segments = m.path.split("/");
      const source = segments
        .map((s) => {
          const p = /^\{(\+?)([^}]+)\}$/.exec(s);
          if (!p) return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
          names.push(p[2] ?? "");
          return p[1] ? "(.+?)" : "([^/]+)";
        })
        .join("/");
      return {
        method: m,
        names,
        re: new RegExp(`^${source}$`),
        literals: segments.filter((s) => !s.startsWith("{")).length,
      };
    })
    .sort((a, b) => b.literals - a.literals);
  return (httpMethod: string, path: string): MatchedMethod | undefined => {
    for (const r of routes) {
      if (r.method.httpMethod !== httpMethod) continue;
      const m = r.re.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1] ?? "")));
      return { method: r.method, params };
    }
    return undefined;
  };
}
