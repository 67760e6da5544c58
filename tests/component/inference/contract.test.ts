import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unsupportedChat, unsupportedCompletion } from "../../../src/inference/routes/unsupported.js";
import { ChatCompletionRequest, CompletionRequest } from "../../../src/inference/schemas.js";
import type { Server } from "../../../src/inference/server.js";
import { chat, completion, listen, startServer } from "../../helpers/inference.js";
import { contractErrors, requestParameters } from "../../helpers/openai-contract.js";

// Every body and stream chunk the server sends, checked against JSON Schema generated from the official
// `openai` package's own types (tests/helpers/openai-contract.ts), over real HTTP and real llama.cpp.
let server: Server;
let url: string;
beforeAll(async () => {
  // Room for the tool documentation a tool request adds to the prompt.
  server = await startServer({ contextSize: 1024 });
  url = await listen(server);
});
afterAll(async () => {
  await server.close();
});

const post = (path: string, body: unknown) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** The `data:` payloads of an SSE body, in order ("[DONE]" kept as a string). */
async function events(res: Response): Promise<unknown[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6))
    .map((d) => (d === "[DONE]" ? d : (JSON.parse(d) as unknown)));
}

interface Chunk {
  choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { completion_tokens: number } | null;
}

describe("the OpenAI contract, from the openai package's own types", () => {
  it("a chat completion is a ChatCompletion, sent as JSON", async () => {
    const res = await post("/v1/chat/completions", chat("hello"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(contractErrors("ChatCompletion", await res.json())).toEqual([]);
  });

  it("a text completion is a Completion", async () => {
    const res = await post("/v1/completions", completion("hello"));
    expect(contractErrors("Completion", await res.json())).toEqual([]);
  });

  it("a chat stream: every chunk a ChatCompletionChunk, role first, content deltas, finish, usage, [DONE]", async () => {
    const res = await post(
      "/v1/chat/completions",
      chat("hello", { stream: true, stream_options: { include_usage: true } }),
    );
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const all = await events(res);
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = all.slice(0, -1) as Chunk[];
    for (const c of chunks) expect(contractErrors("ChatCompletionChunk", c)).toEqual([]);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    const withChoice = chunks.filter((c) => c.choices.length > 0);
    expect(withChoice.slice(1, -1).every((c) => typeof c.choices[0]?.delta.content === "string")).toBe(true);
    expect(withChoice.at(-1)?.choices[0]?.finish_reason).toBe("length");
    expect(withChoice.slice(0, -1).every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
    // The usage chunk comes last, with no choices, as OpenAI sends it.
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(8);
  });

  it("a completion stream: every chunk a Completion, then [DONE]", async () => {
    const all = await events(await post("/v1/completions", completion("hello", { stream: true })));
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = all.slice(0, -1) as { choices: { finish_reason: string | null }[] }[];
    // The SDK types a streamed completion chunk as a Completion, whose finish_reason is never null, yet
    // OpenAI (and llama.cpp's server) send null until the last chunk: that one field is held to the API.
    for (const [i, c] of chunks.entries()) {
      const last = i === chunks.length - 1;
      expect(c.choices[0]?.finish_reason === null).toBe(!last);
      const asTyped = last ? c : { ...c, choices: c.choices.map((x) => ({ ...x, finish_reason: "length" })) };
      expect(contractErrors("Completion", asTyped)).toEqual([]);
    }
  });

  const tools = [
    {
      type: "function",
      function: {
        name: "lookup",
        parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
      },
    },
  ];

  it("a tool call is a ChatCompletion with tool_calls and finish_reason tool_calls", async () => {
    const body = (await (
      await post(
        "/v1/chat/completions",
        chat("x", { tools, tool_choice: "required", max_tokens: 200, temperature: 1, seed: 1 }),
      )
    ).json()) as { choices: { finish_reason: string; message: { content: unknown } }[] };
    expect(contractErrors("ChatCompletion", body)).toEqual([]);
    expect(body.choices[0]?.finish_reason).toBe("tool_calls");
    expect(body.choices[0]?.message.content).toBeNull();
  });

  it("a streamed tool call: every chunk a ChatCompletionChunk, the call's id and name first", async () => {
    const all = await events(
      await post(
        "/v1/chat/completions",
        chat("x", { tools, tool_choice: "required", max_tokens: 200, temperature: 1, seed: 1, stream: true }),
      ),
    );
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = all.slice(0, -1) as {
      choices: {
        delta: { tool_calls?: { id?: string; function: { name?: string } }[] };
        finish_reason: string | null;
      }[];
    }[];
    for (const c of chunks) expect(contractErrors("ChatCompletionChunk", c)).toEqual([]);
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls[0]?.id).toBeTruthy();
    expect(calls[0]?.function.name).toBe("lookup");
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("logprobs: a ChatCompletion whose choice has them, and ChatCompletionChunks that carry them", async () => {
    const body = await (
      await post("/v1/chat/completions", chat("hello", { logprobs: true, top_logprobs: 3 }))
    ).json();
    expect(contractErrors("ChatCompletion", body)).toEqual([]);
    expect(
      (body as { choices: { logprobs: { content: unknown[] } }[] }).choices[0]?.logprobs.content,
    ).toHaveLength(8);
    const all = await events(
      await post("/v1/chat/completions", chat("hello", { logprobs: true, top_logprobs: 3, stream: true })),
    );
    const chunks = all.slice(0, -1) as { choices: { logprobs: { content: unknown[] } | null }[] }[];
    for (const c of chunks) expect(contractErrors("ChatCompletionChunk", c)).toEqual([]);
    expect(chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? [])).toHaveLength(8);
  });

  it("logprobs and echo: a Completion with the legacy columns, streamed or not", async () => {
    const body = await (
      await post("/v1/completions", completion("hello", { logprobs: 2, echo: true }))
    ).json();
    expect(contractErrors("Completion", body)).toEqual([]);
    const all = await events(
      await post("/v1/completions", completion("hello", { logprobs: 2, stream: true })),
    );
    const chunks = all.slice(0, -1) as { choices: { finish_reason: string | null; logprobs: unknown }[] }[];
    for (const c of chunks) {
      // finish_reason as in the stream test above: the SDK's type has no null for it.
      const asTyped = { ...c, choices: c.choices.map((x) => ({ ...x, finish_reason: "length" })) };
      expect(contractErrors("Completion", asTyped)).toEqual([]);
    }
    expect(chunks.some((c) => c.choices[0]?.logprobs !== null)).toBe(true);
  });

  it.each([
    ["ChatCompletionCreateParamsBase", ChatCompletionRequest.properties, unsupportedChat],
    ["CompletionCreateParamsBase", CompletionRequest.properties, unsupportedCompletion],
  ] as const)("every parameter of %s is served or refused by name", (type, served, refused) => {
    const neither = requestParameters(type).filter((p) => !(p in served) && !(p in refused));
    expect(neither).toEqual([]);
    const both = Object.keys(refused).filter((p) => p in served);
    expect(both).toEqual([]);
  });

  it("the model list holds Models", async () => {
    const body = (await (await fetch(`${url}/v1/models`)).json()) as { object: string; data: unknown[] };
    expect(body.object).toBe("list");
    expect(body.data.length).toBeGreaterThan(0);
    for (const m of body.data) expect(contractErrors("Model", m)).toEqual([]);
  });

  it.each([
    ["an invalid parameter", "/v1/chat/completions", chat("x", { temperature: 9 }), 400],
    ["an unknown model", "/v1/chat/completions", chat("x", { model: "gpt-nothing" }), 404],
    ["a missing prompt", "/v1/completions", { model: "tiny-42" }, 400],
  ])("%s: an ErrorObject under `error`, as JSON, with the status", async (_what, path, body, status) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const json = (await res.json()) as { error: unknown };
    expect(contractErrors("ErrorObject", json.error)).toEqual([]);
  });

  it("no CORS headers unless configured", async () => {
    const res = await fetch(`${url}/v1/models`, { headers: { origin: "https://example.com" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("a full queue", () => {
  let tight: Server;
  let tightUrl: string;
  beforeAll(async () => {
    tight = await startServer({ parallel: 1, maxQueue: 0 });
    tightUrl = await listen(tight);
  });
  afterAll(async () => {
    await tight.close();
  });

  it("429 with Retry-After in seconds and an ErrorObject", async () => {
    const body = JSON.stringify(chat("a long one", { max_tokens: 200 }));
    const send = () =>
      fetch(`${tightUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    const [a, b] = await Promise.all([send(), send()]);
    const refused = [a, b].find((r) => r.status === 429);
    expect(refused, `statuses ${a.status}, ${b.status}`).toBeDefined();
    expect(refused?.headers.get("retry-after")).toMatch(/^\d+$/);
    const json = (await refused!.json()) as { error: { type: string } };
    expect(contractErrors("ErrorObject", json.error)).toEqual([]);
    expect(json.error.type).toBe("rate_limit_error");
  });
});

describe("the contract check has teeth", () => {
  let recorded: Record<string, any>;
  beforeAll(async () => {
    recorded = (await (await post("/v1/chat/completions", chat("hello"))).json()) as Record<string, any>;
  });
  const corrupt = (f: (body: Record<string, any>) => void) => {
    const copy = structuredClone(recorded);
    f(copy);
    return contractErrors("ChatCompletion", copy);
  };

  it("the recorded response passes", () => {
    expect(contractErrors("ChatCompletion", recorded)).toEqual([]);
  });
  it.each([
    [
      "finish_reason outside its enum",
      (b: Record<string, any>) => (b.choices[0].finish_reason = "done"),
      "finish_reason",
    ],
    ["object not chat.completion", (b: Record<string, any>) => (b.object = "completion"), "/object"],
    ["created missing", (b: Record<string, any>) => delete b.created, "created"],
    ["a role that is not assistant", (b: Record<string, any>) => (b.choices[0].message.role = "bot"), "role"],
    [
      "logprobs bytes as a string",
      (b: Record<string, any>) =>
        (b.choices[0].logprobs = {
          content: [{ token: "a", logprob: -1, bytes: "97", top_logprobs: [] }],
          refusal: null,
        }),
      "bytes",
    ],
    [
      "a logprobs entry without top_logprobs",
      (b: Record<string, any>) =>
        (b.choices[0].logprobs = { content: [{ token: "a", logprob: -1, bytes: [97] }], refusal: null }),
      "top_logprobs",
    ],
    ["usage counts as strings", (b: Record<string, any>) => (b.usage.total_tokens = "12"), "total_tokens"],
  ])("%s fails", (_what, f, where) => {
    const errors = corrupt(f);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).toContain(where);
  });
});
