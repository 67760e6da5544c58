import type { GenerationResult, PromptLogprob, TokenLogprob } from "../engine.js";
import type { ApiError } from "../errors.js";

/**
 * How one API writes a generation. Every API runs the same generation (routes/generation.ts); an encoder
 * turns what happens into that API's stream events and its JSON body, so the APIs differ only here and in
 * how their requests are read. Encoders do no I/O: they are made per request and may keep state (the ids
 * they gave, the text so far), and tests drive them directly.
 */

/** One server-sent event: `event:` when the API names its events, then the data (a string as it is). */
export interface SseEvent {
  event?: string;
  data: unknown;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface Encoder {
  /** The stream opens, before any choice starts. Streams only. */
  open(promptTokens: number): SseEvent[];
  /** Choice `index` starts. Streams only. */
  start(index: number): SseEvent[];
  /** The prompt's tokens were scored (a completion's echo with logprobs). Streams only. */
  promptScored?(index: number, entries: PromptLogprob[]): SseEvent[];
  /** Answer text, with its tokens' logprobs when asked for. Streams only. */
  text(index: number, text: string, logprobs?: TokenLogprob[]): SseEvent[];
  /** A tool call starts: the encoder gives it its id. Called streamed or not. */
  toolCall(index: number, name: string): SseEvent[];
  /** More of the current call's arguments. Streams only. */
  toolArguments(index: number, text: string): SseEvent[];
  /** Choice `index` has ended. Called streamed or not. */
  end(index: number, result: GenerationResult): SseEvent[];
  /** Every choice has ended: the stream's last events. Streams only. */
  close(usage: TokenUsage): SseEvent[];
  /** The stream's last events when it fails after its headers went out. */
  fail(err: ApiError): SseEvent[];
  /** The JSON body of an answer that is not streamed, after every choice ended. */
  body(usage: TokenUsage): unknown;
}

/** An event as written on the wire. */
export function sse(e: SseEvent): string {
  const data = typeof e.data === "string" ? e.data : JSON.stringify(e.data);
  return `${e.event === undefined ? "" : `event: ${e.event}\n`}data: ${data}\n\n`;
}
