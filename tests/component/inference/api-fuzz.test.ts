import { describe, expect, it } from "vitest";
import { serverPerFile } from "../../helpers/server-per-file.js";

// Random and mutated bodies for the Responses and Messages APIs, from a fixed seed: none may get a 5xx
// (as a status, or as a stream's failure event), every refusal is in the API's own error shape, and the
// server is healthy afterwards — no request left in flight, no slot left busy, a plain request answered.

// Room for the tool documentation a tool request adds to the prompt.
const { server } = serverPerFile({ contextSize: 1024 });

/** mulberry32: a small deterministic PRNG, so a failure replays with the same bodies. */
function prng(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const WEIRD: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 53,
  1e308,
  "",
  "x",
  "\u0000\ud800",
  "x".repeat(4000),
  [],
  [null],
  [{}],
  {},
  { type: "zzz" },
  { type: "text", text: 1 },
];

const KEYS = [
  "type",
  "role",
  "content",
  "text",
  "id",
  "call_id",
  "tool_use_id",
  "name",
  "input",
  "arguments",
];

/** Every path (as keys and indexes) to a value inside `v`, the root included. */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === "object")
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

function parentOf(root: unknown, path: (string | number)[]): Record<string | number, unknown> | undefined {
  let v = root;
  for (const k of path.slice(0, -1)) v = (v as Record<string | number, unknown>)[k];
  return v !== null && typeof v === "object" ? (v as Record<string | number, unknown>) : undefined;
}

/** One to three random edits of a copy of `body`: a value swapped, a key dropped or added, a type renamed. */
function mutate(body: object, rng: Rng, types: readonly string[]): unknown {
  const copy = structuredClone(body) as Record<string, unknown>;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const path = rng.pick(paths(copy).filter((p) => p.length > 0));
    const parent = parentOf(copy, path);
    const key = path.at(-1);
    if (!parent || key === undefined) continue;
    switch (rng.int(5)) {
      case 0:
        parent[key] = structuredClone(rng.pick(WEIRD));
        break;
      case 1:
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else Reflect.deleteProperty(parent, key);
        break;
      case 2:
        if (!Array.isArray(parent)) parent[rng.pick(KEYS)] = structuredClone(rng.pick(WEIRD));
        break;
      case 3:
        if (!Array.isArray(parent) && "type" in parent) parent.type = rng.pick(types);
        else parent[key] = [parent[key]];
        break;
      default:
        if (Array.isArray(parent)) parent.push(structuredClone(parent[Number(key)]));
        else parent[key] = JSON.stringify(parent[key]);
    }
  }
  return copy;
}

const lookup = {
  name: "lookup",
  schema: {
    type: "object",
    properties: { word: { type: "string", enum: ["spill", "way"] } },
    required: ["word"],
  },
};

const responsesSeeds: object[] = [
  { model: "tiny-42", input: "hello", max_output_tokens: 4 },
  { model: "tiny-42", input: "hello", max_output_tokens: 4, stream: true, instructions: "be brief" },
  {
    model: "tiny-42",
    input: [
      { role: "user", content: [{ type: "input_text", text: "look up spill" }] },
      { type: "function_call", call_id: "c1", name: "lookup", arguments: '{"word":"spill"}' },
      { type: "function_call_output", call_id: "c1", output: "a word" },
    ],
    tools: [{ type: "function", name: lookup.name, parameters: lookup.schema }],
    max_output_tokens: 4,
  },
  {
    model: "tiny-42",
    input: "x",
    tools: [{ type: "function", name: lookup.name, parameters: lookup.schema }],
    tool_choice: { type: "function", name: "lookup" },
    max_output_tokens: 40,
    stream: true,
  },
  {
    model: "tiny-42",
    input: "x",
    text: {
      format: {
        type: "json_schema",
        name: "o",
        schema: { type: "object", properties: { ok: { type: "boolean" } } },
      },
    },
    max_output_tokens: 20,
  },
];

const messagesSeeds: object[] = [
  { model: "tiny-42", max_tokens: 4, messages: [{ role: "user", content: "hello" }] },
  {
    model: "tiny-42",
    max_tokens: 4,
    stream: true,
    system: [{ type: "text", text: "be brief" }],
    stop_sequences: ["\n"],
    messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
  },
  {
    model: "tiny-42",
    max_tokens: 4,
    tools: [{ name: lookup.name, input_schema: lookup.schema }],
    messages: [
      { role: "user", content: "look up spill" },
      {
        role: "assistant",
        content: [{ type: "tool_use", id: "t1", name: "lookup", input: { word: "spill" } }],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "a word" }] },
    ],
  },
  {
    model: "tiny-42",
    max_tokens: 40,
    stream: true,
    tools: [{ name: lookup.name, input_schema: lookup.schema }],
    tool_choice: { type: "tool", name: "lookup" },
    messages: [{ role: "user", content: "x" }],
  },
];

/** Raw bodies no mutation of an object makes. */
const RAW = ["", "{", "[]", "1", "null", '"x"', '{"__proto__":{"x":1}}', "\u00ff\u00fe"];

interface Api {
  url: string;
  seeds: object[];
  types: readonly string[];
  /** Whether a refusal's body is in the API's error shape. */
  isError: (body: any) => boolean;
  /** Whether a stream's text holds its failure event. */
  failed: (stream: string) => boolean;
}

const apis: Record<string, Api> = {
  responses: {
    url: "/v1/responses",
    seeds: responsesSeeds,
    types: [
      "message",
      "function_call",
      "function_call_output",
      "input_text",
      "output_text",
      "function",
      "reasoning",
    ],
    isError: (b) => typeof b?.error?.message === "string" && typeof b.error.type === "string",
    failed: (s) => s.includes("event: response.failed"),
  },
  messages: {
    url: "/v1/messages",
    seeds: messagesSeeds,
    types: ["text", "tool_use", "tool_result", "image", "auto", "any", "tool", "none", "custom"],
    isError: (b) =>
      b?.type === "error" && typeof b.error?.type === "string" && typeof b.error.message === "string",
    failed: (s) => s.includes("event: error"),
  },
};

describe.each(Object.entries(apis))("fuzzed %s bodies", (name, api) => {
  it(
    "never get a 5xx, refuse in the API's own shape, and leave the server healthy",
    { timeout: 300_000 },
    async () => {
      const rng = prng(name === "responses" ? 27 : 72);
      const bodies: unknown[] = RAW.map((r) => ({ raw: r }));
      while (bodies.length < 240) bodies.push(mutate(rng.pick(api.seeds), rng, api.types));
      const statuses = new Map<number, number>();
      for (const [i, body] of bodies.entries()) {
        const raw = (body as { raw?: string }).raw;
        const res = await server().fastify.inject({
          method: "POST",
          url: api.url,
          headers: { "content-type": "application/json" },
          payload: raw ?? JSON.stringify(body),
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        const what = `body ${i}: ${JSON.stringify(body).slice(0, 400)} → ${res.statusCode} ${res.body.slice(0, 400)}`;
        expect(res.statusCode, what).toBeLessThan(500);
        if (res.statusCode >= 400) expect(api.isError(res.json()), what).toBe(true);
        else if (String(res.headers["content-type"]).startsWith("text/event-stream"))
          expect(api.failed(res.body), what).toBe(false);
        else expect(() => res.json<unknown>(), what).not.toThrow();
      }
      // Both answers and refusals were exercised, not only one.
      expect(statuses.get(200) ?? 0).toBeGreaterThan(20);
      expect(statuses.get(400) ?? 0).toBeGreaterThan(100);

      const s = server();
      expect(s.runtime.activeRequests).toBe(0);
      expect(s.engine?.slots.busy).toBe(0);
      expect((await s.fastify.inject({ url: "/ready" })).statusCode).toBe(200);
      const ok = await s.fastify.inject({ method: "POST", url: api.url, payload: api.seeds[0] as object });
      expect(ok.statusCode).toBe(200);
    },
  );
});
