import {
  LlamaCompletion,
  type ControlledEvaluateInputItem,
  type EvaluationPriority,
  type LlamaContextSequence,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import { DETOKENIZER_CONTEXT, type TokenPieces } from "./token-pieces.js";

/**
 * Log probabilities of the tokens a request generates (and, for `echo`, of its prompt).
 *
 * Which distribution: node-llama-cpp reports, with each sampled token, the distribution the sampler drew
 * it from: the model's logits after logit bias, penalties, the grammar, top-k/top-p/min-p truncation and
 * the temperature, renormalized (llama.cpp's sampler chain, read back in node-llama-cpp's sampleToken).
 * At temperature 0 (greedy) that is the untempered softmax over the whole vocabulary. A logprob is the
 * natural log of that probability. Prompt tokens are scored under greedy settings: the model's own
 * distribution, with no truncation and no temperature.
 */

export interface TopLogprob {
  token: string;
  bytes: number[];
  logprob: number;
}

export interface TokenLogprob extends TopLogprob {
  /** The most likely tokens at this position, most likely first; as many as were asked for, or fewer. */
  top: TopLogprob[];
  /** Where the token's text starts in the text of its pass, in code points (Python's string index). */
  offset: number;
}

/** A prompt token: the first has no logprob when the model has no BOS token to condition it on. */
export interface PromptLogprob extends Omit<TokenLogprob, "logprob" | "top"> {
  logprob: number | null;
  top: TopLogprob[] | null;
}

/** OpenAI's floor for a probability of 0 (JSON has no -Infinity). */
const FLOOR = -9999;

function logprob(p: number | undefined): number {
  return p === undefined || p <= 0 ? FLOOR : Math.max(FLOOR, Math.log(p));
}

interface Sampled {
  token: Token;
  probability: number | undefined;
  top: [Token, number][];
}

/** The `count` most likely tokens of a distribution node-llama-cpp has sorted, most likely first. */
function mostLikely(probabilities: Map<Token, number>, count: number): [Token, number][] {
  const top: [Token, number][] = [];
  if (count === 0) return top;
  for (const entry of probabilities) {
    // Tokens a grammar or truncation excluded have probability 0: not alternatives.
    if (entry[1] <= 0 || top.length === count) break;
    top.push(entry);
  }
  return top;
}

/** Offsets of consecutive pieces in the text their bytes decode to, in UTF-16 units and code points. */
class TextCursor {
  private readonly decoder = new TextDecoder();
  utf16 = 0;
  codePoints = 0;

  advance(bytes: number[]) {
    const start = { utf16: this.utf16, codePoints: this.codePoints };
    const text = this.decoder.decode(Uint8Array.from(bytes), { stream: true });
    this.utf16 += text.length;
    this.codePoints += Array.from(text).length;
    return start;
  }
}

/**
 * Turns the tokens a pass samples into logprob entries, and hands them out with the text they spell.
 * The sampler reports every token it draws (`sampled`); LlamaCompletion then reports the ones that reach
 * the output (`accepted`), leaving out an end-of-generation token and a stop trigger's tokens.
 */
export class LogprobRecorder {
  private readonly drawn: Sampled[] = [];
  private readonly context: Token[];
  private readonly cursor = new TextCursor();
  private readonly pending: { entry: TokenLogprob; start: number; end: number }[] = [];
  private unmatched = 0;

  constructor(
    private readonly pieces: TokenPieces,
    private readonly topCount: number,
    /** The tokens before the first one recorded, for its text. */
    context: readonly Token[] = [],
  ) {
    this.context = [...context];
  }

  sampled(token: Token, probabilities: Map<Token, number> | undefined): void {
    this.drawn.push({
      token,
      probability: probabilities?.get(token),
      top: probabilities ? mostLikely(probabilities, this.topCount) : [],
    });
  }

  accepted(tokens: readonly Token[]): void {
    for (const token of tokens) {
      let s = this.drawn.shift();
      while (s && s.token !== token) s = this.drawn.shift();
      if (!s) {
        // Thrown from finish(): LlamaCompletion swallows errors thrown in its callbacks.
        this.unmatched++;
        continue;
      }
      const previous = this.context.slice(-DETOKENIZER_CONTEXT);
      const piece = this.pieces.piece(token, previous);
      const start = this.cursor.advance(piece.bytes);
      this.pending.push({
        entry: {
          token: piece.text,
          bytes: piece.bytes,
          logprob: logprob(s.probability),
          top: s.top.map(([t, p]) => {
            const alt = this.pieces.piece(t, previous);
            return { token: alt.text, bytes: alt.bytes, logprob: logprob(p) };
          }),
          offset: start.codePoints,
        },
        start: start.utf16,
        end: this.cursor.utf16,
      });
      this.context.push(token);
    }
  }

  /** The entries whose text lies within the first `length` UTF-16 units of the pass's text. */
  release(length: number): TokenLogprob[] {
    const n = this.pending.findIndex((p) => p.end > length);
    return this.pending.splice(0, n === -1 ? this.pending.length : n).map((p) => p.entry);
  }

  /**
   * The rest when the pass has ended with `length` UTF-16 units of text: every accepted token, or, when a
   * stop sequence cut the text, those that start before the cut (the last may be cut through).
   */
  finish(length: number, cut: boolean): TokenLogprob[] {
    if (this.unmatched > 0) {
      throw new Error(
        `${this.unmatched} generated token(s) came without their probabilities: node-llama-cpp no longer ` +
          "samples LlamaCompletion's tokens through sequence.evaluate (see logprobs.ts)",
      );
    }
    const rest = this.pending.splice(0);
    return (cut ? rest.filter((p) => p.start < length) : rest).map((p) => p.entry);
  }
}

type Sink = (token: Token, probabilities: Map<Token, number> | undefined) => void;

/** What LlamaCompletion may send back into evaluate's generator: the tokens to evaluate next. */
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- node-llama-cpp's own type
type Replacement = void | Token | Token[];

/**
 * A LlamaCompletion on a slot's sequence whose sampling also reports each token's distribution (a hook
 * on node-llama-cpp 3.21's LlamaCompletion, which draws its tokens from `sequence.evaluate(...)` and so
 * drops the metadata the sequence can give). It sees the sequence through a proxy whose `evaluate` is
 * the public `evaluateWithMetadata(..., {probabilities: true})`: the same generator, the same options,
 * with each result passed to `sink`. Only requests that ask for logprobs use it; the others keep the
 * slot's plain LlamaCompletion and pay nothing. If LlamaCompletion stops calling `evaluate`, the recorder
 * sees tokens with no probabilities and the request fails (LogprobRecorder.finish) instead of lying.
 */
export class ScoringCompletion {
  readonly completion: LlamaCompletion;
  sink: Sink | undefined;

  constructor(sequence: LlamaContextSequence) {
    const evaluate = (tokens: Token[], options?: SequenceEvaluateOptions) =>
      this.evaluate(sequence, tokens, options);
    const view = new Proxy(sequence, {
      get(target, key) {
        if (key === "evaluate") return evaluate;
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    this.completion = new LlamaCompletion({ contextSequence: view });
  }

  /** LlamaContextSequence.evaluate, with the metadata it would have dropped passed to the sink. */
  private async *evaluate(
    sequence: LlamaContextSequence,
    tokens: Token[],
    options?: SequenceEvaluateOptions,
  ): AsyncGenerator<Token, void, Replacement> {
    const iterator = sequence.evaluateWithMetadata(tokens, { probabilities: true }, options);
    let input: Replacement = undefined;
    try {
      for (;;) {
        const { value, done } = await iterator.next(input);
        if (done) return;
        this.sink?.(value.token, value.probabilities);
        input = yield value.token;
      }
    } finally {
      await iterator.return();
    }
  }
}

/** Prompt positions evaluated per call: each holds a distribution over the whole vocabulary until read. */
const PROMPT_CHUNK = 32;

/**
 * Evaluates a prompt into an empty sequence, scoring each token by the distribution at the position
 * before it. The generation that follows reuses the evaluated tokens. `tokens` are as evaluated: with
 * the BOS token first when `bos` is set, which is then scored by nothing and listed by nothing.
 */
export async function scorePrompt(
  sequence: LlamaContextSequence,
  pieces: TokenPieces,
  tokens: readonly Token[],
  bos: boolean,
  topCount: number,
  evaluationPriority: EvaluationPriority,
): Promise<PromptLogprob[]> {
  const cursor = new TextCursor();
  const entries: PromptLogprob[] = [];
  let before: Map<Token, number> | undefined;
  const listed = bos ? 1 : 0;
  for (let from = 0; from < tokens.length; from += PROMPT_CHUNK) {
    const chunk = tokens.slice(from, from + PROMPT_CHUNK);
    // The last token's distribution is the first generated token's: the generation reads that one.
    const results = await sequence.controlledEvaluate(
      chunk.map((t, i): ControlledEvaluateInputItem =>
        from + i === tokens.length - 1 ? t : [t, { generateNext: { probabilities: true } }],
      ),
      { evaluationPriority },
    );
    for (const [i, token] of chunk.entries()) {
      const index = from + i;
      if (index >= listed) {
        const previous = tokens.slice(Math.max(listed, index - DETOKENIZER_CONTEXT), index);
        const piece = pieces.piece(token, previous);
        const start = cursor.advance(piece.bytes);
        entries.push({
          token: piece.text,
          bytes: piece.bytes,
          logprob: before ? logprob(before.get(token)) : null,
          top: before
            ? mostLikely(before, topCount).map(([t, p]) => {
                const alt = pieces.piece(t, previous);
                return { token: alt.text, bytes: alt.bytes, logprob: logprob(p) };
              })
            : null,
          offset: start.codePoints,
        });
      }
      before = results[i]?.next.probabilities;
    }
  }
  return entries;
}
