import { randomBytes } from "node:crypto";
import type { GenerationResult } from "../engine.js";
import type { Encoder, SseEvent, TokenUsage } from "../routes/encoder.js";
import { messagesErrorBody } from "./errors.js";

/**
 * A generation as an Anthropic message: a text block with the answer's text, then one tool_use block per
 * call; streamed, Anthropic's events — message_start and a ping; per block content_block_start, its
 * text_delta or input_json_delta deltas, content_block_stop; then message_delta with the stop reason and
 * usage, and message_stop.
 */

const hex = () => randomBytes(12).toString("hex");

type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use";

export function stopReason(r: GenerationResult): StopReason {
  if (r.finishReason === "length") return "max_tokens";
  if (r.finishReason === "tool_calls") return "tool_use";
  return r.stopSequence === undefined ? "end_turn" : "stop_sequence";
}

export function usageBody({ promptTokens, completionTokens }: TokenUsage) {
  return {
    input_tokens: promptTokens,
    output_tokens: completionTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: null,
    inference_geo: null,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: "standard" as const,
    speed: null,
  };
}

const textBlock = (text: string) => ({ type: "text" as const, text, citations: null });

const toolUseBlock = (id: string, name: string, input: unknown) => ({
  type: "tool_use" as const,
  id,
  name,
  input,
  caller: { type: "direct" as const },
});

/** A call's arguments as the tool_use input; undefined when max_tokens cut them short of valid JSON. */
function input(args: string): unknown {
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return undefined;
  }
}

export function messagesEncoder(model: string, requestId: string | null): Encoder {
  const id = `msg_${hex()}`;
  const toolIds: string[] = [];
  let result: GenerationResult | undefined;
  /** Blocks started so far in the stream, and whether the last one is still open. */
  let blocks = 0;
  let open: "text" | "tool_use" | undefined;

  const event = (type: string, fields: object = {}): SseEvent => ({ event: type, data: { type, ...fields } });
  const closeOpen = (): SseEvent[] => {
    if (!open) return [];
    open = undefined;
    return [event("content_block_stop", { index: blocks - 1 })];
  };
  const message = (content: unknown[], usage: TokenUsage) => ({
    id,
    type: "message" as const,
    role: "assistant" as const,
    model,
    content,
    stop_reason: result ? stopReason(result) : null,
    stop_sequence: result?.stopSequence ?? null,
    container: null,
    stop_details: null,
    diagnostics: null,
    usage: usageBody(usage),
  });

  return {
    open: (promptTokens) => [
      event("message_start", { message: message([], { promptTokens, completionTokens: 0 }) }),
      event("ping"),
    ],
    start: () => [],
    text(_index, text) {
      const events: SseEvent[] = [];
      if (open !== "text") {
        events.push(...closeOpen());
        events.push(event("content_block_start", { index: blocks++, content_block: textBlock("") }));
        open = "text";
      }
      events.push(event("content_block_delta", { index: blocks - 1, delta: { type: "text_delta", text } }));
      return events;
    },
    toolCall(_index, name) {
      const toolId = `toolu_${hex()}`;
      toolIds.push(toolId);
      const events = closeOpen();
      events.push(
        event("content_block_start", { index: blocks++, content_block: toolUseBlock(toolId, name, {}) }),
      );
      open = "tool_use";
      return events;
    },
    toolArguments(_index, text) {
      return [
        event("content_block_delta", {
          index: blocks - 1,
          delta: { type: "input_json_delta", partial_json: text },
        }),
      ];
    },
    end(_index, r) {
      result = r;
      return closeOpen();
    },
    close: (usage) => [
      event("message_delta", {
        delta: {
          stop_reason: result ? stopReason(result) : null,
          stop_sequence: result?.stopSequence ?? null,
          container: null,
          stop_details: null,
        },
        usage: {
          input_tokens: usage.promptTokens,
          output_tokens: usage.completionTokens,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          output_tokens_details: null,
          server_tool_use: null,
        },
      }),
      event("message_stop"),
    ],
    fail: (err) => [event("error", messagesErrorBody(err, requestId))],
    body(usage) {
      const r = result;
      const content: unknown[] = r?.text ? [textBlock(r.text)] : [];
      for (const [i, call] of (r?.toolCalls ?? []).entries()) {
        const args = input(call.arguments);
        // A call max_tokens cut short has no input to give; stop_reason max_tokens says why it is missing.
        if (args !== undefined) content.push(toolUseBlock(toolIds[i] ?? `toolu_${hex()}`, call.name, args));
      }
      return message(content, usage);
    },
  };
}
