import type { DiscoveryDoc, DiscoveryMethod, DiscoverySchema } from "./discovery.js";

/**
 * Checks JSON bodies and method parameters against Google's discovery document: unknown fields, wrong
 * types, enum values, patterns, minimums, and the fields a method requires. Pure: no I/O.
 *
 * Requests are read as Google's JSON parser reads them (proto3 JSON): an int64 may come as a number or a
 * string, an int32 as a numeric string, `null` means unset. Responses are held to what Google sends: int64
 * and uint64 as strings, int32 as numbers, no nulls.
 */

/** One thing wrong, at a field path like `managedInstances[0].instanceStatus` or a parameter name. */
export interface Violation {
  path: string;
  message: string;
}

export type Direction = "request" | "response";

export interface BodyCheck {
  direction: Direction;
  /** The method the body belongs to, for the fields its annotations require (`compute.instances.insert`). */
  methodId?: string;
}

/** Violations of `body` against the named schema (`InstanceGroupManager`, `Operation`, ...). */
export function checkBody(doc: DiscoveryDoc, schemaName: string, body: unknown, o: BodyCheck): Violation[] {
  const out: Violation[] = [];
  check(doc, { $ref: schemaName }, body, "", o, out);
  return out;
}

/**
 * Violations of a call's path and query parameters against the method: required ones missing, unknown
 * ones (the document's system parameters, like `alt` or `prettyPrint`, are allowed), values of the wrong
 * type, enum or pattern, a single parameter given twice.
 */
export function checkParameters(
  doc: DiscoveryDoc,
  method: DiscoveryMethod,
  given: { path: Record<string, string>; query: URLSearchParams },
): Violation[] {
  const out: Violation[] = [];
  const params = method.parameters ?? {};
  for (const [name, p] of Object.entries(params)) {
    const values =
      p.location === "path" ? [given.path[name]].filter((v) => v !== undefined) : given.query.getAll(name);
    if (values.length === 0) {
      if (p.required)
        out.push({ path: name, message: `required ${p.location ?? "query"} parameter is missing` });
      continue;
    }
    if (values.length > 1 && !p.repeated) out.push({ path: name, message: "given more than once" });
    for (const v of values) {
      const problem = parameterProblem(p, v);
      if (problem) out.push({ path: name, message: problem });
    }
  }
  for (const name of new Set(given.query.keys())) {
    if (params[name]?.location === "query") continue;
    const system = doc.parameters[name];
    if (system) {
      for (const v of given.query.getAll(name)) {
        const problem = parameterProblem(system, v);
        if (problem) out.push({ path: name, message: problem });
      }
      continue;
    }
    out.push({ path: name, message: `unknown query parameter (not a parameter of ${method.id})` });
  }
  return out;
}

function parameterProblem(p: DiscoverySchema, v: string): string | undefined {
  if (p.type === "integer") {
    if (!/^-?\d+$/.test(v)) return `'${v}' is not an integer`;
    return integerProblem(p, Number(v));
  }
  if (p.type === "boolean" && v !== "true" && v !== "false") return `'${v}' is not true or false`;
  if (p.type === "string" && (p.format === "int64" || p.format === "uint64")) return int64Problem(p, v);
  if (p.enum && !p.enum.includes(v)) return `'${v}' is not one of ${p.enum.join(", ")}`;
  if (p.pattern && !matches(p.pattern, v)) return `'${v}' does not match ${p.pattern}`;
  return undefined;
}

const SCALARS = new Set(["string", "integer", "number", "boolean"]);

function check(
  doc: DiscoveryDoc,
  schema: DiscoverySchema,
  value: unknown,
  path: string,
  o: BodyCheck,
  out: Violation[],
): void {
  const s = resolve(doc, schema);
  if (!s) {
    out.push({ path, message: `schema ${schema.$ref ?? "?"} is not in the discovery document` });
    return;
  }
  if (value === null) {
    if (o.direction === "response") out.push({ path, message: "null (Google never sends null)" });
    return;
  }
  const type = s.type ?? (s.properties || s.additionalProperties ? "object" : "any");
  if (type === "any") return;
  if (type === "object") {
    if (typeof value !== "object" || Array.isArray(value)) {
      out.push({ path, message: `expected an object, got ${describe(value)}` });
      return;
    }
    const record = value as Record<string, unknown>;
    for (const [key, v] of Object.entries(record)) {
      const field = join(path, key);
      const prop = s.properties?.[key] ?? s.additionalProperties;
      if (!prop) {
        out.push({ path: field, message: `unknown field (not in ${s.id ?? schema.$ref ?? "this object"})` });
        continue;
      }
      check(doc, prop, v, field, o, out);
    }
    if (o.direction === "request" && o.methodId) {
      for (const [key, prop] of Object.entries(s.properties ?? {})) {
        if (prop.annotations?.required?.includes(o.methodId) && record[key] == null)
          out.push({ path: join(path, key), message: `required by ${o.methodId}` });
      }
    }
    return;
  }
  if (type === "array") {
    if (!Array.isArray(value)) {
      out.push({ path, message: `expected an array, got ${describe(value)}` });
      return;
    }
    value.forEach((item, i) => {
      check(doc, s.items ?? {}, item, `${path}[${i}]`, o, out);
    });
    return;
  }
  if (SCALARS.has(type)) {
    const problem = scalarProblem(s, type, value, o.direction);
    if (problem) out.push({ path, message: problem });
  }
}

function scalarProblem(
  s: DiscoverySchema,
  type: string,
  value: unknown,
  direction: Direction,
): string | undefined {
  const wanted = s.format ? `${type} (${s.format})` : type;
  const wrong = `expected ${wanted}, got ${describe(value)}`;
  switch (type) {
    case "boolean":
      return typeof value === "boolean" ? undefined : wrong;
    case "number":
      if (typeof value === "number") return undefined;
      // proto3 JSON reads numeric strings and the special values in requests.
      return direction === "request" &&
        typeof value === "string" &&
        /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|NaN|-?Infinity)$/.test(value)
        ? undefined
        : wrong;
    case "integer": {
      const n =
        typeof value === "number"
          ? value
          : direction === "request" && typeof value === "string" && /^-?\d+$/.test(value)
            ? Number(value)
            : undefined;
      if (n === undefined || !Number.isInteger(n)) return wrong;
      return integerProblem(s, n);
    }
    case "string": {
      if (s.format === "int64" || s.format === "uint64") {
        if (direction === "request" && typeof value === "number" && Number.isInteger(value))
          return int64Problem(s, String(value));
        return typeof value === "string" ? int64Problem(s, value) : wrong;
      }
      if (typeof value !== "string") return wrong;
      if (s.enum && !s.enum.includes(value)) return `'${value}' is not one of ${s.enum.join(", ")}`;
      if (s.format === "byte" && !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return `'${value}' is not base64`;
      if (s.format === "google-datetime" && Number.isNaN(Date.parse(value)))
        return `'${value}' is not an RFC 3339 time`;
      if (s.format === "google-duration" && !/^-?\d+(\.\d{1,9})?s$/.test(value))
        return `'${value}' is not a duration like 3.5s`;
      if (s.pattern && !matches(s.pattern, value)) return `'${value}' does not match ${s.pattern}`;
      return undefined;
    }
  }
  return undefined;
}

const INT_RANGE: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
};

function integerProblem(s: DiscoverySchema, n: number): string | undefined {
  const range = INT_RANGE[s.format ?? ""];
  if (range && (n < range[0] || n > range[1])) return `${n} is out of range for ${s.format ?? ""}`;
  if (s.minimum !== undefined && n < Number(s.minimum)) return `${n} is below the minimum ${s.minimum}`;
  return undefined;
}

function int64Problem(s: DiscoverySchema, v: string): string | undefined {
  const unsigned = s.format === "uint64";
  if (!(unsigned ? /^\d+$/ : /^-?\d+$/).test(v))
    return `'${v}' is not a ${s.format ?? ""} (a decimal string)`;
  const n = BigInt(v);
  const [lo, hi] = unsigned ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
  return n < lo || n > hi ? `${v} is out of range for ${s.format ?? ""}` : undefined;
}

function resolve(doc: DiscoveryDoc, s: DiscoverySchema): DiscoverySchema | undefined {
  let cur: DiscoverySchema | undefined = s;
  // A property that only points at a schema carries the target's fields.
  for (let hops = 0; cur?.$ref !== undefined && hops < 8; hops++) cur = doc.schemas[cur.$ref];
  return cur;
}

const patterns = new Map<string, RegExp | null>();

/** Discovery patterns are RE2; the few JavaScript cannot compile are not checked. */
function matches(pattern: string, v: string): boolean {
  if (!patterns.has(pattern)) {
    let re: RegExp | null;
    try {
      re = new RegExp(`^(?:${pattern})$`);
    } catch {
      re = null;
    }
    patterns.set(pattern, re);
  }
  const re = patterns.get(pattern);
  return !re || re.test(v);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${typeof v === "number" || typeof v === "boolean" ? String(v) : "value"}`;
}
