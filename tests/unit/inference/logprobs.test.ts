import type { Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { LogprobRecorder, type TokenLogprob } from "../../../src/inference/logprobs.js";
import { chatLogprobs, completionLogprobs } from "../../../src/inference/routes/logprobs.js";
import type { TokenPieces } from "../../../src/inference/token-pieces.js";

// How sampled tokens become logprob entries, and the entries OpenAI's two shapes, without a model.

const TEXT: Record<number, string> = { 1: "Hel", 2: "lo", 3: " wor", 4: "ld", 5: "é" };
const pieces = {
  piece: (t: Token) => {
    const text = TEXT[t] ?? "?";
    return { text, bytes: [...Buffer.from(text, "utf8")] };
  },
} as unknown as TokenPieces;
const tok = (n: number) => n as Token;
/** A distribution where `t` has probability `p` and the rest is spread over tokens 9 and 8. */
const dist = (t: number, p: number) =>
  new Map<Token, number>([
    [tok(t), p],
    [tok(9), (1 - p) * 0.75],
    [tok(8), (1 - p) * 0.25],
  ]);

describe("LogprobRecorder", () => {
  it("matches accepted tokens to what the sampler drew, skipping the draws that did not reach the output", () => {
    const r = new LogprobRecorder(pieces, 1);
    r.sampled(tok(1), dist(1, 0.5));
    r.sampled(tok(2), dist(2, 0.25));
    r.accepted([tok(1), tok(2)]);
    // An end-of-generation token the sampler drew, never accepted.
    r.sampled(tok(7), dist(7, 0.9));
    const entries = r.finish(5, false);
    expect(entries.map((e) => [e.token, e.logprob, e.offset])).toEqual([
      ["Hel", Math.log(0.5), 0],
      ["lo", Math.log(0.25), 3],
    ]);
    expect(entries[0]?.top).toEqual([{ token: "Hel", bytes: [72, 101, 108], logprob: Math.log(0.5) }]);
  });

  it("releases an entry once all of its text is out", () => {
    const r = new LogprobRecorder(pieces, 0);
    for (const t of [1, 2, 3]) r.sampled(tok(t), dist(t, 0.5));
    r.accepted([tok(1), tok(2), tok(3)]);
    expect(r.release(4).map((e) => e.token)).toEqual(["Hel"]);
    expect(r.release(5).map((e) => e.token)).toEqual(["lo"]);
    expect(r.release(5)).toEqual([]);
    expect(r.finish(9, false).map((e) => e.token)).toEqual([" wor"]);
  });

  it("after a stop sequence, keeps the tokens that start inside the text", () => {
    const r = new LogprobRecorder(pieces, 0);
    for (const t of [1, 2, 3, 4]) r.sampled(tok(t), dist(t, 0.5));
    r.accepted([tok(1), tok(2), tok(3), tok(4)]);
    // "Hello wor|ld": the text was cut at 6, inside " wor".
    expect(r.finish(6, true).map((e) => e.token)).toEqual(["Hel", "lo", " wor"]);
  });

  it("counts offsets in code points", () => {
    const r = new LogprobRecorder(pieces, 0);
    for (const t of [5, 1]) r.sampled(tok(t), dist(t, 0.5));
    r.accepted([tok(5), tok(1)]);
    expect(r.finish(4, false).map((e) => e.offset)).toEqual([0, 1]);
  });

  it("fails the request when a token comes with no probabilities", () => {
    const r = new LogprobRecorder(pieces, 0);
    r.accepted([tok(1)]);
    expect(() => r.finish(3, false)).toThrow(/without their probabilities/);
  });

  it("floors a probability of 0 at OpenAI's -9999", () => {
    const r = new LogprobRecorder(pieces, 0);
    r.sampled(tok(1), new Map([[tok(1), 0]]));
    r.accepted([tok(1)]);
    expect(r.finish(3, false)[0]?.logprob).toBe(-9999);
  });
});

const entry = (token: string, logprob: number, top: [string, number][], offset: number): TokenLogprob => ({
  token,
  bytes: [...Buffer.from(token)],
  logprob,
  offset,
  top: top.map(([t, l]) => ({ token: t, bytes: [...Buffer.from(t)], logprob: l })),
});

describe("OpenAI's shapes", () => {
  it("chat: token objects with their alternatives", () => {
    expect(chatLogprobs([entry("a", -1, [["a", -1]], 0)])).toEqual({
      content: [
        { token: "a", logprob: -1, bytes: [97], top_logprobs: [{ token: "a", logprob: -1, bytes: [97] }] },
      ],
      refusal: null,
    });
  });

  it("legacy: columns, the sampled token added to its alternatives, offsets past a base", () => {
    const lp = completionLogprobs(
      [
        entry(
          "x",
          -3,
          [
            ["a", -0.5],
            ["b", -1],
          ],
          0,
        ),
        entry("__proto__", -0.1, [["__proto__", -0.1]], 1),
      ],
      10,
    );
    expect(lp.tokens).toEqual(["x", "__proto__"]);
    expect(lp.token_logprobs).toEqual([-3, -0.1]);
    expect(lp.top_logprobs[0]).toEqual({ a: -0.5, b: -1, x: -3 });
    expect(Object.keys(lp.top_logprobs[1]!)).toEqual(["__proto__"]);
    expect(lp.text_offset).toEqual([10, 11]);
  });

  it("legacy: two tokens with one text keep the likelier", () => {
    const lp = completionLogprobs([
      entry(
        "a",
        -1,
        [
          ["a", -1],
          ["a", -2],
        ],
        0,
      ),
    ]);
    expect(lp.top_logprobs[0]).toEqual({ a: -1 });
  });
});
