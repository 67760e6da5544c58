import { describe, expect, it } from "vitest";
import { chat, completion } from "../../helpers/inference.js";
import { serverPerFile } from "../../helpers/server-per-file.js";

// Log probabilities over the real tiny model: what a client reads from them (one entry per generated
// token, in order, spelling the text, with the bytes that make it up) and how they are asked for. Every
// request here is at temperature 0 or carries a seed, so the tokens, and so the assertions, are fixed.
const { post } = serverPerFile();

interface Alternative {
  token: string;
  logprob: number;
  bytes: number[];
}
interface ChatToken extends Alternative {
  top_logprobs: Alternative[];
}
interface Columns {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/** The `data:` payloads of an SSE body, [DONE] left out. */
const events = (body: string) =>
  body
    .split("\n\n")
    .filter((e) => e.startsWith("data: ") && e !== "data: [DONE]")
    .map((e): any => JSON.parse(e.slice(6)));

const utf8 = (bytes: number[]) => Buffer.from(bytes).toString("utf8");

describe("chat logprobs", () => {
  it("one entry per generated token, spelling the content, with bytes and the likeliest alternatives", async () => {
    const res = await post("/v1/chat/completions", chat("hello", { logprobs: true, top_logprobs: 3 }));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const choice = body.choices[0];
    const content = choice.logprobs.content as ChatToken[];
    expect(choice.logprobs.refusal).toBeNull();
    expect(content).toHaveLength(body.usage.completion_tokens);
    expect(content.map((t) => t.token).join("")).toBe(choice.message.content);
    expect(utf8(content.flatMap((t) => t.bytes))).toBe(choice.message.content);
    for (const t of content) {
      expect(t.bytes).toEqual([...Buffer.from(t.token, "utf8")]);
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(3);
      const logprobs = t.top_logprobs.map((a) => a.logprob);
      expect(logprobs).toEqual([...logprobs].sort((a, b) => b - a));
      // Greedy decoding picks the likeliest token: it heads the alternatives.
      expect(t.top_logprobs[0]).toEqual({ token: t.token, logprob: t.logprob, bytes: t.bytes });
      // Probabilities of one distribution: the alternatives' share is at most 1.
      expect(t.top_logprobs.reduce((p, a) => p + Math.exp(a.logprob), 0)).toBeLessThanOrEqual(1 + 1e-6);
    }
  });

  it("logprobs without top_logprobs lists no alternatives; without logprobs, none at all", async () => {
    const plain = (await post("/v1/chat/completions", chat("hello"))).json();
    expect(plain.choices[0].logprobs).toBeNull();
    const bare = (await post("/v1/chat/completions", chat("hello", { logprobs: true }))).json();
    const content = bare.choices[0].logprobs.content as ChatToken[];
    expect(content.length).toBeGreaterThan(0);
    expect(content.every((t) => t.top_logprobs.length === 0)).toBe(true);
  });

  it("asking for them changes nothing about the text, greedy or seeded", async () => {
    for (const extra of [{}, { temperature: 1, seed: 7 }]) {
      const plain = (
        await post("/v1/chat/completions", chat("the cloud", { max_tokens: 16, ...extra }))
      ).json();
      const scored = (
        await post("/v1/chat/completions", chat("the cloud", { max_tokens: 16, logprobs: true, ...extra }))
      ).json();
      expect(scored.choices[0].message.content).toBe(plain.choices[0].message.content);
    }
  });

  it("at temperature 1, the sampled distribution: each token among its alternatives when enough are asked", async () => {
    const body = (
      await post(
        "/v1/chat/completions",
        chat("the cloud", { temperature: 1, seed: 3, top_k: 5, logprobs: true, top_logprobs: 5 }),
      )
    ).json();
    const content = body.choices[0].logprobs.content as ChatToken[];
    expect(content).toHaveLength(8);
    for (const t of content) {
      // top_k 5 leaves five candidates: the sampled token is one of them, and they sum to 1.
      expect(t.top_logprobs.map((a) => a.token)).toContain(t.token);
      expect(t.top_logprobs.reduce((p, a) => p + Math.exp(a.logprob), 0)).toBeCloseTo(1, 4);
    }
  });

  it("streams each token's entry in the chunk that carries its text", async () => {
    const res = await post(
      "/v1/chat/completions",
      chat("hello", { stream: true, logprobs: true, top_logprobs: 2, max_tokens: 12 }),
    );
    const chunks = events(res.body);
    const plain = (
      await post("/v1/chat/completions", chat("hello", { logprobs: true, top_logprobs: 2, max_tokens: 12 }))
    ).json();
    const withContent = chunks.filter((c) => typeof c.choices[0]?.delta.content === "string");
    // The role chunk and the finish chunk carry no logprobs.
    expect(chunks[0].choices[0].logprobs).toBeNull();
    expect(chunks.at(-1).choices[0].logprobs).toBeNull();
    for (const c of withContent.slice(1)) {
      const entries = c.choices[0].logprobs.content as ChatToken[];
      expect(entries.map((t) => t.token).join("")).toBe(c.choices[0].delta.content);
    }
    const streamed = withContent.slice(1).flatMap((c) => c.choices[0].logprobs.content as ChatToken[]);
    expect(streamed).toEqual(plain.choices[0].logprobs.content);
  });

  it("a token that is part of a character has its raw bytes and OpenAI's bytes: name", async () => {
    // The fixture's vocabulary has no token for "€": the grammar makes the model spell it in bytes.
    const body = (
      await post(
        "/v1/chat/completions",
        chat("price", {
          logprobs: true,
          max_tokens: 20,
          response_format: { type: "json_schema", json_schema: { name: "c", schema: { enum: ["€"] } } },
        }),
      )
    ).json();
    const choice = body.choices[0];
    expect(choice.message.content).toBe('"€"');
    const content = choice.logprobs.content as ChatToken[];
    expect(utf8(content.flatMap((t) => t.bytes))).toBe('"€"');
    const partial = content.filter((t) => t.token.startsWith("bytes:"));
    expect(partial.map((t) => t.bytes)).toEqual([[0xe2], [0x82], [0xac]]);
    expect(partial.map((t) => t.token)).toEqual(["bytes:\\xe2", "bytes:\\x82", "bytes:\\xac"]);
  });

  it("n choices each have their own", async () => {
    const body = (
      await post("/v1/chat/completions", chat("hi", { n: 2, temperature: 1, seed: 5, logprobs: true }))
    ).json();
    for (const c of body.choices) {
      expect((c.logprobs.content as ChatToken[]).map((t) => t.token).join("")).toBe(c.message.content);
    }
  });

  it.each([
    ["top_logprobs above 20", { logprobs: true, top_logprobs: 21 }, "top_logprobs"],
    ["negative top_logprobs", { logprobs: true, top_logprobs: -1 }, "top_logprobs"],
    ["top_logprobs without logprobs", { top_logprobs: 2 }, "top_logprobs"],
    ["top_logprobs with logprobs false", { logprobs: false, top_logprobs: 0 }, "top_logprobs"],
    ["logprobs that is not a boolean", { logprobs: 2 }, "logprobs"],
  ])("%s → 400 naming the field", async (_what, extra, param) => {
    const res = await post("/v1/chat/completions", chat("x", extra));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ type: "invalid_request_error", param });
  });
});

describe("completion logprobs (the legacy columns)", () => {
  it("tokens, their logprobs, the likeliest alternatives with the sampled one, offsets into the text", async () => {
    const body = (
      await post("/v1/completions", completion("the model", { logprobs: 2, max_tokens: 10 }))
    ).json();
    const { text } = body.choices[0];
    const lp = body.choices[0].logprobs as Columns;
    expect(lp.tokens).toHaveLength(10);
    expect(lp.tokens.join("")).toBe(text);
    expect(lp.token_logprobs).toHaveLength(10);
    expect(lp.text_offset[0]).toBe(0);
    for (const [i, token] of lp.tokens.entries()) {
      expect(text.slice(lp.text_offset[i])).toMatch(new RegExp(`^${escape(token)}`));
      const top = lp.top_logprobs[i]!;
      expect(top[token]).toBe(lp.token_logprobs[i]);
      expect(Object.keys(top).length).toBeLessThanOrEqual(3);
    }
  });

  it("logprobs 0: each token's own logprob only", async () => {
    const lp = (await post("/v1/completions", completion("the", { logprobs: 0 }))).json().choices[0]
      .logprobs as Columns;
    expect(
      lp.top_logprobs.every((t, i) => Object.keys(t!).length === 1 && t![lp.tokens[i]!] !== undefined),
    ).toBe(true);
  });

  it("the text continues the prompt: its first token keeps its leading space", async () => {
    const body = (await post("/v1/completions", completion("the model server", { logprobs: 0 }))).json();
    const lp = body.choices[0].logprobs as Columns;
    expect(body.choices[0].text).toBe(lp.tokens.join(""));
    expect(lp.tokens[0]).toMatch(/^ /);
  });

  it("stops at a stop sequence, listing the tokens the text is made of", async () => {
    const full = (await post("/v1/completions", completion("the model", { max_tokens: 24 }))).json()
      .choices[0].text as string;
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    const body = (
      await post("/v1/completions", completion("the model", { max_tokens: 24, stop, logprobs: 1 }))
    ).json();
    const { text } = body.choices[0];
    const lp = body.choices[0].logprobs as Columns;
    expect(text).toBe(full.slice(0, full.indexOf(stop)));
    // The last token may be cut through by the stop sequence; none starts after the text.
    expect(lp.tokens.join("").startsWith(text)).toBe(true);
    expect(lp.text_offset.every((o) => o < text.length)).toBe(true);
  });

  it("streams each chunk's tokens with offsets into the whole text", async () => {
    const res = await post(
      "/v1/completions",
      completion("the model", { stream: true, logprobs: 1, max_tokens: 10 }),
    );
    const chunks = events(res.body).filter((c) => c.choices[0].text !== "" || c.choices[0].logprobs);
    const plain = (
      await post("/v1/completions", completion("the model", { logprobs: 1, max_tokens: 10 }))
    ).json();
    const joined = chunks.reduce(
      (acc: Columns, c) => {
        const lp = c.choices[0].logprobs as Columns;
        expect(lp.tokens.join("")).toBe(c.choices[0].text);
        return {
          tokens: [...acc.tokens, ...lp.tokens],
          token_logprobs: [...acc.token_logprobs, ...lp.token_logprobs],
          top_logprobs: [...acc.top_logprobs, ...lp.top_logprobs],
          text_offset: [...acc.text_offset, ...lp.text_offset],
        };
      },
      { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] },
    );
    expect(joined).toEqual(plain.choices[0].logprobs);
  });

  it.each([
    ["logprobs above 5", { logprobs: 6 }],
    ["negative logprobs", { logprobs: -1 }],
    ["logprobs as a boolean", { logprobs: true }],
  ])("%s → 400 naming logprobs", async (_what, extra) => {
    const res = await post("/v1/completions", completion("x", extra));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.param).toBe("logprobs");
  });
});

describe("echo", () => {
  it("puts the prompt before the completion", async () => {
    const plain = (await post("/v1/completions", completion("the model server"))).json();
    const echoed = (await post("/v1/completions", completion("the model server", { echo: true }))).json();
    expect(echoed.choices[0].text).toBe(`the model server${plain.choices[0].text}`);
    expect(echoed.usage).toEqual(plain.usage);
  });

  it("with logprobs, scores the prompt's tokens too, offsets counting from the prompt's start", async () => {
    const prompt = "the model server";
    const plain = (await post("/v1/completions", completion(prompt, { logprobs: 2 }))).json();
    const body = (await post("/v1/completions", completion(prompt, { logprobs: 2, echo: true }))).json();
    const lp = body.choices[0].logprobs as Columns;
    const own = plain.choices[0].logprobs as Columns;
    const n = own.tokens.length;
    expect(lp.tokens.slice(0, -n).join("")).toBe(prompt);
    expect(lp.tokens.join("")).toBe(body.choices[0].text);
    // The model has a BOS token, so even the prompt's first token has a logprob.
    expect(lp.token_logprobs.every((p) => typeof p === "number" && p <= 0)).toBe(true);
    expect(lp.tokens.slice(-n)).toEqual(own.tokens);
    // The same distributions, up to float rounding: llama.cpp computed the prompt's logits in one batch.
    for (const [i, p] of lp.token_logprobs.slice(-n).entries())
      expect(p).toBeCloseTo(own.token_logprobs[i]!, 4);
    expect(lp.text_offset.slice(-n)).toEqual(own.text_offset.map((o) => o + prompt.length));
    expect(lp.text_offset[0]).toBe(0);
  });

  it("streams the prompt first, with its logprobs", async () => {
    const res = await post(
      "/v1/completions",
      completion("the model", { echo: true, stream: true, logprobs: 0 }),
    );
    const chunks = events(res.body);
    expect(chunks[0].choices[0].text).toBe("the model");
    expect((chunks[0].choices[0].logprobs as Columns).tokens.join("")).toBe("the model");
    const plain = (await post("/v1/completions", completion("the model", { echo: true }))).json();
    expect(chunks.map((c) => c.choices[0].text as string).join("")).toBe(plain.choices[0].text);
  });

  it("echo without logprobs streams the prompt at once", async () => {
    const res = await post("/v1/completions", completion("the", { echo: true, stream: true, max_tokens: 2 }));
    const chunks = events(res.body);
    expect(chunks[0].choices[0]).toMatchObject({ text: "the", logprobs: null });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
