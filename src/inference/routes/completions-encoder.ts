import { randomBytes } from "node:crypto";
import type { GenerationResult, PromptLogprob, TokenLogprob } from "../engine.js";
import { errorBody } from "../errors.js";
import type { Encoder, SseEvent, TokenUsage } from "./encoder.js";
import type { Job } from "./jobs.js";
import { chatLogprobs, codePoints, completionLogprobs, concatColumns } from "./logprobs.js";

/** OpenAI's chat completions and legacy completions: `data:` chunks ending in [DONE], or one body. */

const SYSTEM_FINGERPRINT = "spillway";

export function usageBody({ promptTokens, completionTokens }: TokenUsage) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

export function toolCallId(): string {
  return `call_${randomBytes(12).toString("hex")}`;
}

interface Delta {
  role?: "assistant";
  content?: string;
  tool_calls?: unknown[];
}

export function completionsEncoder(job: Job, model: string): Encoder {
  const id = `${job.kind === "chat" ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  const withLogprobs = job.sampling.logprobs !== undefined;
  // A completion's offsets count from the start of its text, which the echoed prompt begins.
  const echoed = job.echo === undefined ? 0 : codePoints(job.echo);
  const results: GenerationResult[] = [];
  const callIds: string[][] = [];

  /** A chunk's logprobs: those of the tokens its text completes (none for the role, calls, finish). */
  const chunkLogprobs = (entries: TokenLogprob[] | undefined) =>
    !withLogprobs || !entries
      ? null
      : job.kind === "chat"
        ? chatLogprobs(entries)
        : completionLogprobs(entries, echoed);
  // One SSE event: chat carries a delta, a text completion the text itself.
  const chunk = (
    index: number,
    delta: Delta,
    text: string,
    finish: string | null,
    logprobs: unknown = null,
  ): SseEvent => ({
    data: {
      id,
      object: job.kind === "chat" ? "chat.completion.chunk" : "text_completion",
      created,
      model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: [{ index, ...(job.kind === "chat" ? { delta } : { text }), logprobs, finish_reason: finish }],
      ...(job.includeUsage ? { usage: null } : {}),
    },
  });
  // The echoed prompt streams first: with its logprobs once its tokens are scored, else at once.
  const echo = (index: number, entries?: PromptLogprob[]) =>
    chunk(index, {}, job.echo ?? "", null, entries ? completionLogprobs(entries) : null);

  return {
    open: () => [],
    start(index) {
      const events: SseEvent[] = [];
      if (job.kind === "chat") events.push(chunk(index, { role: "assistant", content: "" }, "", null));
      if (job.echo !== undefined && !job.sampling.promptLogprobs) events.push(echo(index));
      return events;
    },
    promptScored: (index, entries) => [echo(index, entries)],
    text: (index, text, logprobs) => [chunk(index, { content: text }, text, null, chunkLogprobs(logprobs))],
    toolCall(index, name) {
      const ids = (callIds[index] ??= []);
      ids.push(toolCallId());
      const call = {
        index: ids.length - 1,
        id: ids.at(-1),
        type: "function",
        function: { name, arguments: "" },
      };
      return [chunk(index, { tool_calls: [call] }, "", null)];
    },
    toolArguments(index, text) {
      const call = (callIds[index]?.length ?? 1) - 1;
      return [chunk(index, { tool_calls: [{ index: call, function: { arguments: text } }] }, "", null)];
    },
    end(index, result) {
      results[index] = result;
      return [chunk(index, {}, "", result.finishReason)];
    },
    close(usage) {
      const last: SseEvent[] = [{ data: "[DONE]" }];
      if (!job.includeUsage) return last;
      const withUsage = chunk(0, {}, "", null).data as object;
      return [{ data: { ...withUsage, choices: [], usage: usageBody(usage) } }, ...last];
    },
    // In-band, as OpenAI reports a failed stream, and without [DONE].
    fail: (err) => [{ data: errorBody(err) }],
    body(usage) {
      const base = { id, created, model, system_fingerprint: SYSTEM_FINGERPRINT, usage: usageBody(usage) };
      if (job.kind === "chat") {
        return {
          ...base,
          object: "chat.completion" as const,
          choices: results.map((r, index) => ({
            index,
            message: message(r, callIds[index] ?? []),
            logprobs: withLogprobs ? chatLogprobs(r.logprobs ?? []) : null,
            finish_reason: r.finishReason,
          })),
        };
      }
      return {
        ...base,
        object: "text_completion" as const,
        choices: results.map((r, index) => ({
          index,
          text: (job.echo ?? "") + r.text,
          logprobs: withLogprobs
            ? concatColumns(
                completionLogprobs(r.promptLogprobs ?? []),
                completionLogprobs(r.logprobs ?? [], echoed),
              )
            : null,
          finish_reason: r.finishReason,
        })),
      };
    },
  };
}

function message(r: GenerationResult, ids: string[]) {
  if (r.toolCalls.length === 0) return { role: "assistant" as const, content: r.text, refusal: null };
  return {
    role: "assistant" as const,
    content: r.text || null,
    refusal: null,
    tool_calls: r.toolCalls.map((c, i) => ({
      id: ids[i] ?? toolCallId(),
      type: "function" as const,
      function: { name: c.name, arguments: c.arguments },
    })),
  };
}
