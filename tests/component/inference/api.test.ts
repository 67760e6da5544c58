import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { parsePrometheusText, sumOf } from "../../../src/lib/prometheus-text.js";
import { chat, completion, startServer } from "../../helpers/inference.js";

// The OpenAI-compatible API over the real tiny model and real llama.cpp, through fastify's inject.
let server: Server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
  server.fastify.inject({ method: "POST", url, payload: payload as object, headers });

describe("chat completions", () => {
  it("answers with an OpenAI-shaped completion and usage", async () => {
    const res = await post("/v1/chat/completions", chat("hello there"));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "tiny-42",
      choices: [{ index: 0, message: { role: "assistant" }, finish_reason: "length", logprobs: null }],
    });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(body.choices[0].message.content.length).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBe(8);
    expect(body.usage.total_tokens).toBe(Number(body.usage.prompt_tokens) + 8);
  });

  it("honours max_completion_tokens over max_tokens", async () => {
    const res = await post("/v1/chat/completions", chat("hi", { max_tokens: 9, max_completion_tokens: 3 }));
    expect(res.json().usage.completion_tokens).toBe(3);
  });

  it("is deterministic at temperature 0, and with a seed at temperature 1", async () => {
    const a = await post("/v1/chat/completions", chat("the cloud", { max_tokens: 16 }));
    const b = await post("/v1/chat/completions", chat("the cloud", { max_tokens: 16 }));
    expect(a.json().choices[0].message.content).toBe(b.json().choices[0].message.content);
    const seeded = { max_tokens: 16, temperature: 1, seed: 1234 };
    const c = await post("/v1/chat/completions", chat("the cloud", seeded));
    const d = await post("/v1/chat/completions", chat("the cloud", seeded));
    expect(c.json().choices[0].message.content).toBe(d.json().choices[0].message.content);
  });

  it("accepts content as text parts and ignores fields outside OpenAI's API", async () => {
    const res = await post("/v1/chat/completions", {
      ...chat(""),
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
      logit_bias: { "1": 2 },
      user: "someone",
      some_future_field: true,
    });
    expect(res.statusCode).toBe(200);
  });
});

describe("completions", () => {
  it("answers a prompt, stopping at max_tokens with finish_reason length", async () => {
    const res = await post("/v1/completions", completion("the model server", { max_tokens: 12 }));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      object: "text_completion",
      choices: [{ index: 0, finish_reason: "length" }],
    });
    expect(body.id).toMatch(/^cmpl-/);
    expect(body.usage.completion_tokens).toBe(12);
  });

  it("stops at a stop sequence, with finish_reason stop and the sequence left out", async () => {
    const full = (await post("/v1/completions", completion("the model", { max_tokens: 24 }))).json()
      .choices[0].text as string;
    // A stop sequence taken from the middle of what the model says anyway.
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    const cut = full.indexOf(stop);
    for (const s of [stop, [stop, "never-appears"]]) {
      const res = await post("/v1/completions", completion("the model", { max_tokens: 24, stop: s }));
      const choice = res.json().choices[0];
      expect(choice.finish_reason).toBe("stop");
      expect(choice.text).toBe(full.slice(0, cut));
    }
  });

  it("constrains output to JSON with response_format json_schema", async () => {
    const res = await post(
      "/v1/completions",
      completion("answer:", {
        max_tokens: 20,
        response_format: {
          type: "json_schema",
          json_schema: {
            name: "a",
            schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
          },
        },
      }),
    );
    const choice = res.json().choices[0];
    expect(choice.finish_reason).toBe("stop");
    expect(typeof JSON.parse(choice.text).ok).toBe("boolean");
  });

  it("writes integers for integer fields, with no exponent (several seeds)", async () => {
    for (const seed of [1, 2, 3, 4]) {
      const res = await post(
        "/v1/completions",
        completion("n:", {
          max_tokens: 40,
          temperature: 1,
          seed,
          response_format: {
            type: "json_schema",
            json_schema: {
              name: "n",
              schema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
            },
          },
        }),
      );
      const text = res.json().choices[0].text as string;
      const raw = /"n"\s*:\s*([^,}\s]+)/.exec(text)?.[1];
      expect(raw, text).toMatch(/^-?(0|[1-9][0-9]*)$/);
      expect(Number.isSafeInteger(JSON.parse(text).n)).toBe(true);
    }
  });

  it("constrains output to a JSON value with response_format json_object", async () => {
    const res = await post(
      "/v1/completions",
      completion("answer:", { max_tokens: 64, response_format: { type: "json_object" } }),
    );
    const text = res.json().choices[0].text as string;
    // The grammar only admits JSON: the text so far starts like an object or array.
    expect(text.trimStart()).toMatch(/^[[{]/);
  });
});

describe("streaming", () => {
  it("sends chat.completion.chunk events: role first, content deltas, finish, usage, [DONE]", async () => {
    const res = await post(
      "/v1/chat/completions",
      chat("hello", { max_tokens: 5, stream: true, stream_options: { include_usage: true } }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
    const events = res.body.split("\n\n").filter(Boolean);
    expect(events.every((e) => e.startsWith("data: "))).toBe(true);
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    for (const c of chunks)
      expect(c).toMatchObject({ object: "chat.completion.chunk", model: "tiny-42", id: chunks[0].id });
    const finish = chunks.at(-2);
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: "length" });
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage.completion_tokens).toBe(5);
    const content = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    const plain = await post("/v1/chat/completions", chat("hello", { max_tokens: 5 }));
    expect(content).toBe(plain.json().choices[0].message.content);
  });

  it("sends text_completion events for /v1/completions without usage unless asked", async () => {
    const res = await post("/v1/completions", completion("the", { max_tokens: 3, stream: true }));
    const chunks = res.body
      .split("\n\n")
      .filter((e) => e && e !== "data: [DONE]")
      .map((e) => JSON.parse(e.slice(6)));
    expect(chunks.every((c) => c.object === "text_completion" && !("usage" in c))).toBe(true);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("length");
  });
});

describe("models, health, readiness, metrics", () => {
  it("lists the served model with its metadata", async () => {
    const res = await server.fastify.inject({ url: "/v1/models" });
    expect(res.json()).toMatchObject({
      object: "list",
      data: [{ id: "tiny-42", object: "model", owned_by: "spillway", context_length: 512, parallel: 4 }],
    });
    expect((await server.fastify.inject({ url: "/v1/models/tiny-42" })).statusCode).toBe(200);
    expect((await server.fastify.inject({ url: "/v1/models/other" })).json().error.code).toBe(
      "model_not_found",
    );
  });

  it("reports liveness and readiness", async () => {
    expect((await server.fastify.inject({ url: "/health" })).json()).toEqual({ status: "ok" });
    expect((await server.fastify.inject({ url: "/ready" })).statusCode).toBe(200);
  });

  it("counts each request once, streamed or not", async () => {
    const count = async () =>
      sumOf(
        parsePrometheusText((await server.fastify.inject({ url: "/metrics" })).body),
        "spillway_inference_requests_total",
        { route: "/v1/chat/completions", status: "200" },
      );
    const before = await count();
    await post("/v1/chat/completions", chat("once", { max_tokens: 2 }));
    await post("/v1/chat/completions", chat("streamed", { max_tokens: 2, stream: true }));
    expect((await count()) - before).toBe(2);
  });

  it("exposes Prometheus metrics for requests, slots, tokens and latency", async () => {
    await post("/v1/completions", completion("metrics", { max_tokens: 2 }));
    const text = (await server.fastify.inject({ url: "/metrics" })).body;
    for (const name of [
      'spillway_inference_requests_total{route="/v1/completions",status="200"}',
      "spillway_inference_requests_in_flight 0",
      "spillway_inference_queue_depth 0",
      "spillway_inference_slots_busy 0",
      "spillway_inference_slots_total 4",
      "spillway_inference_prompt_tokens_total",
      "spillway_inference_generated_tokens_total",
      "spillway_inference_time_to_first_token_seconds_bucket",
      'spillway_inference_request_duration_seconds_bucket{le="0.01",route="/v1/completions"}',
      "spillway_inference_model_load_seconds",
    ]) {
      expect(text).toContain(name);
    }
  });
});

describe("errors", () => {
  const cases: [string, string, unknown, number, Record<string, unknown>][] = [
    [
      "unknown model",
      "/v1/chat/completions",
      chat("x", { model: "gpt-4" }),
      404,
      { code: "model_not_found", param: "model" },
    ],
    ["n > 128", "/v1/chat/completions", chat("x", { n: 129 }), 400, { param: "n" }],
    [
      "top_logprobs without logprobs",
      "/v1/chat/completions",
      chat("x", { top_logprobs: 2 }),
      400,
      { param: "top_logprobs" },
    ],
    [
      "top_logprobs over 20",
      "/v1/chat/completions",
      chat("x", { logprobs: true, top_logprobs: 21 }),
      400,
      { param: "top_logprobs" },
    ],
    [
      "completion logprobs over 5",
      "/v1/completions",
      completion("x", { logprobs: 6 }),
      400,
      { param: "logprobs" },
    ],
    ["missing messages", "/v1/chat/completions", { model: "tiny-42" }, 400, { param: "messages" }],
    ["empty messages", "/v1/chat/completions", chat("x", { messages: [] }), 400, { param: "messages" }],
    [
      "bad role",
      "/v1/chat/completions",
      chat("x", { messages: [{ role: "wizard", content: "x" }] }),
      400,
      { param: "messages[0].role" },
    ],
    ["wrong type", "/v1/chat/completions", chat("x", { temperature: "hot" }), 400, { param: "temperature" }],
    [
      "negative max_tokens",
      "/v1/completions",
      completion("x", { max_tokens: -5 }),
      400,
      { param: "max_tokens" },
    ],
    [
      "absurd max_tokens",
      "/v1/completions",
      completion("x", { max_tokens: 1e12 }),
      400,
      { param: "max_tokens" },
    ],
    [
      "invalid stop array",
      "/v1/completions",
      completion("x", { stop: ["ok", 7] }),
      400,
      { param: "stop[1]" },
    ],
    ["empty stop string", "/v1/completions", completion("x", { stop: [""] }), 400, { param: "stop[0]" }],
    [
      "prompt array of two",
      "/v1/completions",
      completion("x", { prompt: ["a", "b"] }),
      400,
      { param: "prompt" },
    ],
    [
      "json_schema without schema",
      "/v1/completions",
      completion("x", { response_format: { type: "json_schema", json_schema: {} } }),
      400,
      { param: "response_format.json_schema.schema" },
    ],
    [
      "prompt + max_tokens beyond the context",
      "/v1/completions",
      completion("x", { max_tokens: 600 }),
      400,
      { code: "context_length_exceeded", param: "prompt" },
    ],
    [
      "huge prompt",
      "/v1/chat/completions",
      chat("word ".repeat(5000)),
      400,
      { code: "context_length_exceeded", param: "messages" },
    ],
  ];
  it.each(cases)("%s → %i naming the problem", async (_name, url, body, status, fields) => {
    const res = await post(url, body);
    expect(res.statusCode).toBe(status);
    const { error } = res.json();
    expect(error).toMatchObject({ type: expect.any(String), message: expect.any(String), ...fields });
    expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
  });

  it("malformed JSON → 400", async () => {
    const res = await server.fastify.inject({
      method: "POST",
      url: "/v1/completions",
      payload: '{"model": "tiny-42", "prompt": ',
      headers: { "content-type": "application/json" },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/JSON/);
  });

  it("non-UTF-8 bytes → 400 naming UTF-8", async () => {
    const res = await server.fastify.inject({
      method: "POST",
      url: "/v1/completions",
      payload: Buffer.concat([
        Buffer.from('{"model":"tiny-42","prompt":"'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}'),
      ]),
      headers: { "content-type": "application/json" },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/UTF-8/);
  });

  it("a body over the limit → 413", async () => {
    const res = await post("/v1/completions", completion("x".repeat(5 * 1024 * 1024)));
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe("request_too_large");
  });

  it("unknown route → 404 in the same error shape", async () => {
    const res = await server.fastify.inject({ url: "/v1/audio/speech", method: "POST", payload: {} });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.type).toBe("not_found_error");
  });

  it("leaves no slot busy after all of the above", () => {
    expect(server.engine?.slots.busy).toBe(0);
    expect(server.runtime.activeRequests).toBe(0);
  });
});
