import { describe, expect, it } from "vitest";
import { chat, completion } from "../../helpers/inference.js";
import { serverPerFile } from "../../helpers/server-per-file.js";

// The request parameters of OpenAI's chat and completions APIs: each one either works or is refused by
// name (routes/unsupported.ts); none is accepted and then ignored. Generations here run at temperature
// 0, so the text each assertion compares is fixed.
const { post } = serverPerFile();
const text = async (payload: unknown) =>
  (await post("/v1/completions", payload)).json().choices[0].text as string;

/** The fixture's sentencepiece vocabulary: "▁the" is token 415, "</s>" (end of generation) token 2. */
const THE = "415";
const EOS = "2";

describe("logit_bias", () => {
  it("+100 makes a token the only choice; -100 rules it out", async () => {
    expect(await text(completion("x", { max_tokens: 4, logit_bias: { [THE]: 100 } }))).toBe(
      " the the the the",
    );
    const banned = (
      await post(
        "/v1/completions",
        completion("the", { max_tokens: 16, logprobs: 5, logit_bias: { [THE]: -100 } }),
      )
    ).json().choices[0].logprobs as { tokens: string[]; top_logprobs: Record<string, number>[] };
    expect(banned.tokens).not.toContain(" the");
    expect(banned.top_logprobs.every((t) => !(" the" in t))).toBe(true);
  });

  it("a bias shifts the logit: its logprob shows it", async () => {
    const logprobOf = async (bias: number) => {
      const body = (
        await post(
          "/v1/chat/completions",
          chat("hello", { max_tokens: 1, logprobs: true, top_logprobs: 20, logit_bias: { [THE]: bias } }),
        )
      ).json();
      return body.choices[0].logprobs.content[0].top_logprobs.find(
        (t: { token: string }) => t.token.trim() === "the",
      )?.logprob as number | undefined;
    };
    const more = await logprobOf(5);
    const much = await logprobOf(10);
    expect(more).toBeDefined();
    expect(much!).toBeGreaterThan(more!);
  });

  it.each([
    ["a token outside the vocabulary", { "600": 1 }, undefined],
    ["the end-of-generation token", { [EOS]: -100 }, "unsupported_value"],
    ["a key that is not a token id", { the: 1 }, undefined],
    ["a bias beyond 100", { [THE]: 101 }, undefined],
  ])("refuses %s, naming logit_bias", async (_what, bias, code) => {
    const res = await post("/v1/chat/completions", chat("x", { logit_bias: bias }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.param).toMatch(/^logit_bias/);
    if (code) expect(res.json().error.code).toBe(code);
  });
});

describe("penalties", () => {
  it("honours OpenAI's whole range: a negative penalty and one above 1 change the text", async () => {
    const prompt = completion("the model server", { max_tokens: 24 });
    const plain = await text(prompt);
    expect(await text({ ...prompt, presence_penalty: -2 })).not.toBe(plain);
    const one = await text({ ...prompt, frequency_penalty: 1 });
    expect(await text({ ...prompt, frequency_penalty: 2 })).not.toBe(one);
  });
});

describe("end-user ids", () => {
  it("accepts user and safety_identifier (they go on the request's log lines)", async () => {
    const res = await post("/v1/chat/completions", chat("hi", { user: "u-1", safety_identifier: "s-1" }));
    expect(res.statusCode).toBe(200);
    expect((await post("/v1/completions", completion("hi", { user: "u-1" }))).statusCode).toBe(200);
  });
});

describe("parameters this server cannot honour are refused by name", () => {
  const chatCases: [string, Record<string, unknown>, string, string][] = [
    ["audio", { audio: { voice: "alloy", format: "mp3" } }, "audio", "unsupported_parameter"],
    ["audio output", { modalities: ["text", "audio"] }, "modalities", "unsupported_value"],
    ["functions", { functions: [{ name: "f" }] }, "functions", "unsupported_parameter"],
    ["function_call", { function_call: "auto" }, "function_call", "unsupported_parameter"],
    ["store", { store: true }, "store", "unsupported_value"],
    ["metadata", { metadata: { k: "v" } }, "metadata", "unsupported_value"],
    ["prediction", { prediction: { type: "content", content: "x" } }, "prediction", "unsupported_parameter"],
    ["prompt_cache_key", { prompt_cache_key: "k" }, "prompt_cache_key", "unsupported_parameter"],
    [
      "prompt_cache_retention",
      { prompt_cache_retention: "24h" },
      "prompt_cache_retention",
      "unsupported_parameter",
    ],
    ["reasoning_effort", { reasoning_effort: "low" }, "reasoning_effort", "unsupported_parameter"],
    ["service_tier", { service_tier: "flex" }, "service_tier", "unsupported_value"],
    ["verbosity", { verbosity: "low" }, "verbosity", "unsupported_parameter"],
    ["web_search_options", { web_search_options: {} }, "web_search_options", "unsupported_parameter"],
    [
      "a message's refusal",
      {
        messages: [
          { role: "assistant", content: null, refusal: "no" },
          { role: "user", content: "x" },
        ],
      },
      "messages[0].refusal",
      "unsupported_parameter",
    ],
    [
      "a schema's description",
      {
        response_format: {
          type: "json_schema",
          json_schema: { name: "a", description: "an answer", schema: { type: "object" } },
        },
      },
      "response_format.json_schema.description",
      "unsupported_parameter",
    ],
    [
      "stream obfuscation",
      { stream: true, stream_options: { include_obfuscation: true } },
      "stream_options.include_obfuscation",
      "unsupported_value",
    ],
  ];
  it.each(chatCases)("chat: %s", async (_what, extra, param, code) => {
    const res = await post("/v1/chat/completions", chat("x", extra));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ type: "invalid_request_error", param, code });
    expect(res.json().error.message).toContain(param);
  });

  it.each([
    ["best_of", { best_of: 2 }, "best_of", "unsupported_value"],
    ["suffix", { suffix: "end" }, "suffix", "unsupported_parameter"],
    [
      "stream_options without a stream",
      { stream_options: { include_usage: true } },
      "stream_options",
      "invalid_value",
    ],
  ])("completions: %s", async (_what, extra, param, code) => {
    const res = await post("/v1/completions", completion("x", extra));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ param, code });
  });

  it("values that ask for what the server does anyway are accepted", async () => {
    const res = await post(
      "/v1/chat/completions",
      chat("x", {
        store: false,
        metadata: {},
        modalities: ["text"],
        service_tier: "auto",
        reasoning_effort: null,
        stream: true,
        stream_options: { include_usage: true, include_obfuscation: false },
      }),
    );
    expect(res.statusCode).toBe(200);
    expect((await post("/v1/completions", completion("x", { best_of: 1, suffix: null }))).statusCode).toBe(
      200,
    );
  });
});
