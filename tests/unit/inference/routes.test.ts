import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { app } from "../../../src/inference/app.js";
import type {
  GenerateCallbacks,
  GenerationResult,
  PreparedRequest,
  Prompt,
  SamplingParams,
  ServedEngine,
} from "../../../src/inference/engine.js";
import { createMetrics } from "../../../src/inference/metrics.js";
import { Runtime } from "../../../src/inference/runtime.js";
import { SlotPool } from "../../../src/inference/slots.js";
import { parsePrometheusText } from "../../../src/lib/prometheus-text.js";

// The routes over a fake engine: what they make of its results (JSON, SSE, counts, metrics), without
// llama.cpp. The real engine behind the same routes is the component tier's.

/** Answers every generation with `reply`, streaming its text in two pieces and its call, if any. */
class FakeEngine implements ServedEngine {
  readonly slots = new SlotPool<unknown>([{ slot: 0 }], 4);
  readonly contextSize = 512;
  readonly embeddingSize = 4;
  readonly seeds: (number | undefined)[] = [];
  constructor(private readonly reply: Partial<GenerationResult> = {}) {}

  prepare(_prompt: Prompt, sampling: SamplingParams): Promise<PreparedRequest> {
    return Promise.resolve({ tokens: [], promptTokens: 3, maxTokens: 16, stopTriggers: [], sampling });
  }

  generate(_slot: unknown, req: PreparedRequest, cb: GenerateCallbacks = {}): Promise<GenerationResult> {
    this.seeds.push(req.sampling.seed);
    const r = { text: "Hello", toolCalls: [], finishReason: "stop" as const, ...this.reply };
    cb.onFirstToken?.();
    if (r.text) for (const piece of [r.text.slice(0, 2), r.text.slice(2)]) cb.onText?.(piece);
    for (const call of r.toolCalls) {
      cb.onToolCall?.(call.name);
      cb.onToolArguments?.(call.arguments);
    }
    return Promise.resolve({ promptTokens: 3, completionTokens: 2, ...r });
  }

  embed(inputs: unknown[]) {
    return Promise.resolve({ vectors: inputs.map(() => [1, 0, 0, 0]), promptTokens: inputs.length });
  }
}

let closeApp: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeApp?.();
});

async function serve(engine: ServedEngine | undefined, apiKey?: string) {
  const runtime = new Runtime("fake", createMetrics());
  if (engine) runtime.ready(engine, "ab".repeat(32));
  const fastify = Fastify({ ajv: { customOptions: { coerceTypes: false } } });
  await fastify.register(app, { runtime, requestTimeoutSeconds: 5, apiKey });
  closeApp = () => fastify.close();
  const post = (url: string, payload: unknown) =>
    fastify.inject({ method: "POST", url, payload: payload as object });
  const metric = async (name: string) =>
    parsePrometheusText((await fastify.inject({ url: "/metrics" })).body).filter((s) => s.name === name);
  return { fastify, runtime, post, metric };
}

const chat = (extra: Record<string, unknown> = {}) => ({
  model: "fake",
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

/** The `data:` events of an SSE body. */
const events = (body: string) =>
  body
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6));

describe("routes over a fake engine", () => {
  it("counts a streamed and a plain chat completion once each", async () => {
    const { post, metric } = await serve(new FakeEngine());
    expect((await post("/v1/chat/completions", chat())).statusCode).toBe(200);
    expect((await post("/v1/chat/completions", chat({ stream: true }))).statusCode).toBe(200);
    const requests = await metric("spillway_inference_requests_total");
    expect(requests.map((s) => [s.labels.route, s.labels.status, s.value])).toEqual([
      ["/v1/chat/completions", "200", 2],
    ]);
    expect((await metric("spillway_inference_requests_in_flight"))[0]?.value).toBe(0);
  });

  it("streams text deltas, the finish reason, usage and [DONE]", async () => {
    const { post } = await serve(new FakeEngine());
    const res = await post(
      "/v1/chat/completions",
      chat({ stream: true, stream_options: { include_usage: true } }),
    );
    const all = events(res.body);
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = all.slice(0, -1).map((e) => JSON.parse(e) as { choices: any[]; usage: any });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? null)).toEqual(["", "He", "llo", null, null]);
    expect(chunks[3]?.choices[0].finish_reason).toBe("stop");
    expect(chunks[4]).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } });
  });

  it("turns a tool call into tool_calls, streamed as id and name, then arguments", async () => {
    const call = { name: "lookup", arguments: '{"q":"x"}' };
    const engine = new FakeEngine({ text: "", toolCalls: [call], finishReason: "tool_calls" });
    const { post } = await serve(engine);
    const tools = [{ type: "function", function: { name: "lookup" } }];
    const plain = (await post("/v1/chat/completions", chat({ tools }))).json();
    expect(plain.choices[0]).toMatchObject({
      finish_reason: "tool_calls",
      message: { content: null, tool_calls: [{ type: "function", function: call }] },
    });
    const chunks = events((await post("/v1/chat/completions", chat({ tools, stream: true }))).body)
      .slice(0, -1)
      .map((e) => JSON.parse(e) as { choices: { delta: any; finish_reason: string | null }[] });
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(deltas).toEqual([
      {
        index: 0,
        id: expect.stringMatching(/^call_/) as unknown,
        type: "function",
        function: { name: "lookup", arguments: "" },
      },
      { index: 0, function: { arguments: call.arguments } },
    ]);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("generates n choices with seed, seed + 1, …", async () => {
    const engine = new FakeEngine();
    const { post } = await serve(engine);
    const body = (await post("/v1/completions", { model: "fake", prompt: "x", n: 3, seed: 10 })).json();
    expect(body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
    expect(engine.seeds).toEqual([10, 11, 12]);
    expect(body.usage).toEqual({ prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 });
  });

  it("leaves a stream's Connection header to the server: a connection marked to close still closes", async () => {
    const { fastify, post } = await serve(new FakeEngine());
    // As server.ts marks a draining or aged connection.
    fastify.addHook("onRequest", (_request, reply, next) => {
      reply.raw.setHeader("connection", "close");
      next();
    });
    const res = await post("/v1/chat/completions", chat({ stream: true }));
    expect(res.headers.connection).toBe("close");
  });

  it("answers 503 before the model is ready, 404 for another model, and still serves while draining", async () => {
    const loading = await serve(undefined);
    const res = await loading.post("/v1/chat/completions", chat());
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    await closeApp?.();
    const { post, runtime } = await serve(new FakeEngine());
    expect((await post("/v1/chat/completions", chat({ model: "gpt-4" }))).json().error.code).toBe(
      "model_not_found",
    );
    runtime.drain();
    expect((await post("/v1/chat/completions", chat())).statusCode).toBe(200);
  });
});

/** Streams its first piece of text, then fails as a broken engine would. */
class FailingEngine extends FakeEngine {
  override generate(
    _slot: unknown,
    _req: PreparedRequest,
    cb: GenerateCallbacks = {},
  ): Promise<GenerationResult> {
    cb.onText?.("He");
    return Promise.reject(new Error("decode failed"));
  }
}

/** An SSE body's events, as [event name, data]. */
const named = (body: string) =>
  body
    .split("\n\n")
    .filter(Boolean)
    .map((e) => {
      const [name, data] = e.split("\n");
      return [name?.replace("event: ", ""), JSON.parse(data?.replace("data: ", "") ?? "null")] as [
        string,
        any,
      ];
    });

describe("the Responses and Messages routes over the same fake engine", () => {
  const responses = (extra: Record<string, unknown> = {}) => ({ model: "fake", input: "hi", ...extra });
  const messages = (extra: Record<string, unknown> = {}) => ({
    model: "fake",
    max_tokens: 8,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });

  it("counts each request once, under its own route", async () => {
    const { post, metric } = await serve(new FakeEngine());
    expect((await post("/v1/responses", responses())).statusCode).toBe(200);
    expect((await post("/v1/responses", responses({ stream: true }))).statusCode).toBe(200);
    expect((await post("/v1/messages", messages({ stream: true }))).statusCode).toBe(200);
    expect((await post("/v1/messages", messages({ max_tokens: 0 }))).statusCode).toBe(400);
    const requests = await metric("spillway_inference_requests_total");
    expect(requests.map((s) => [s.labels.route, s.labels.status, s.value])).toEqual([
      ["/v1/responses", "200", 2],
      ["/v1/messages", "200", 1],
      ["/v1/messages", "400", 1],
    ]);
    const durations = await metric("spillway_inference_request_duration_seconds_count");
    expect(durations.map((s) => [s.labels.route, s.value])).toEqual([
      ["/v1/responses", 2],
      ["/v1/messages", 1],
    ]);
  });

  it("answers every Messages error in Anthropic's shape, a missing key and a loading server too", async () => {
    const { post, fastify } = await serve(new FakeEngine(), "sk-1");
    const noKey = await post("/v1/messages", messages());
    expect([noKey.statusCode, noKey.json().type, noKey.json().error.type]).toEqual([
      401,
      "error",
      "authentication_error",
    ]);
    const withKey = (payload: unknown) =>
      fastify.inject({
        method: "POST",
        url: "/v1/messages",
        payload: payload as object,
        headers: { "x-api-key": "sk-1" },
      });
    expect((await withKey(messages())).statusCode).toBe(200);
    const bad = await withKey({ model: "fake", messages: [{ role: "user", content: "x" }] });
    expect([bad.statusCode, bad.json().error]).toEqual([
      400,
      { type: "invalid_request_error", message: "Missing required parameter: 'max_tokens'." },
    ]);
    // The Responses route keeps OpenAI's shape, and takes the key either way.
    const openai = await fastify.inject({
      method: "POST",
      url: "/v1/responses",
      payload: responses({ input: [{ type: "reasoning" }] }),
      headers: { authorization: "Bearer sk-1" },
    });
    expect(openai.json().error.param).toBe("input[0].type");
    await closeApp?.();
    const loading = await serve(undefined);
    const unready = await loading.post("/v1/messages", messages());
    expect([unready.statusCode, unready.headers["retry-after"], unready.json().error.type]).toEqual([
      503,
      "1",
      "overloaded_error",
    ]);
  });

  it("ends a stream that fails midway with each API's own failure event", async () => {
    const { post, metric } = await serve(new FailingEngine());
    const r = named((await post("/v1/responses", responses({ stream: true }))).body);
    expect(r.map(([e]) => e).slice(-2)).toEqual(["response.output_text.delta", "response.failed"]);
    expect(r.at(-1)?.[1].response.error.code).toBe("server_error");
    const m = named((await post("/v1/messages", messages({ stream: true }))).body);
    expect(m.map(([e]) => e).slice(-2)).toEqual(["content_block_delta", "error"]);
    expect(m.at(-1)?.[1].error).toEqual({
      type: "api_error",
      message: "The server had an error while processing your request.",
    });
    const requests = await metric("spillway_inference_requests_total");
    expect(requests.map((s) => [s.labels.route, s.labels.status])).toEqual([
      ["/v1/responses", "500"],
      ["/v1/messages", "500"],
    ]);
  });
});
