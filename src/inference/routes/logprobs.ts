import type { PromptLogprob, TokenLogprob, TopLogprob } from "../engine.js";

/** Log probabilities in OpenAI's two response shapes: chat's token objects and the legacy columns. */

const alternative = (t: TopLogprob) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes });

/** A chat choice's (or chunk's) `logprobs` for these content tokens. */
export function chatLogprobs(entries: readonly TokenLogprob[]) {
  return {
    content: entries.map((e) => ({
      token: e.token,
      logprob: e.logprob,
      bytes: e.bytes,
      top_logprobs: e.top.map(alternative),
    })),
    refusal: null,
  };
}

/**
 * A text completion's `logprobs` columns. Each `top_logprobs` entry holds the most likely tokens and, as
 * OpenAI's does, the sampled one too (so one more than asked for at most); when two tokens spell the same
 * text, the likelier one stays. `text_offset` counts code points from the start of the choice's text,
 * `base` of which come before these tokens.
 */
export function completionLogprobs(entries: readonly (TokenLogprob | PromptLogprob)[], base = 0) {
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => {
      if (e.top === null) return null;
      const top = new Map<string, number>();
      for (const t of e.top) if (!top.has(t.token)) top.set(t.token, t.logprob);
      if (e.logprob !== null && !top.has(e.token)) top.set(e.token, e.logprob);
      // fromEntries defines each key as its own property, even one spelled `__proto__`.
      return Object.fromEntries(top);
    }),
    text_offset: entries.map((e) => base + e.offset),
  };
}

/** Two stretches of one choice's columns (the echoed prompt's, then the completion's) as one. */
export function concatColumns(
  a: ReturnType<typeof completionLogprobs>,
  b: ReturnType<typeof completionLogprobs>,
): ReturnType<typeof completionLogprobs> {
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: [...a.top_logprobs, ...b.top_logprobs],
    text_offset: [...a.text_offset, ...b.text_offset],
  };
}

/** Code points, as `text_offset` counts them. */
export function codePoints(text: string): number {
  return Array.from(text).length;
}
