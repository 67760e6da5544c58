import { randomBytes } from "node:crypto";
import type { GenerationResult } from "../engine.js";
import type { Encoder, SseEvent, TokenUsage } from "../routes/encoder.js";
import { toolCallId } from "../routes/completions-encoder.js";
import type { ResponsesRequest } from "./schemas.js";

/**
 * A generation as a Responses API response: an `output` list of items (a message with the answer's text,
 * then one function_call item per call), and, streamed, OpenAI's documented events — response.created and
 * response.in_progress; per item output_item.added, its content part or arguments in deltas, and their
 * done events; then response.completed, or response.incomplete when max_output_tokens cut the answer.
 * Every event carries its sequence_number.
 */

const hex = () => randomBytes(12).toString("hex");

type Status = "in_progress" | "completed" | "incomplete";

interface MessageItem {
  id: string;
  type: "message";
  role: "assistant";
  status: Status;
  content: { type: "output_text"; text: string; annotations: never[]; logprobs: never[] }[];
}

interface FunctionCallItem {
  id: string;
  type: "function_call";
  status: Status;
  call_id: string;
  name: string;
  arguments: string;
}

type Item = MessageItem | FunctionCallItem;

const outputText = (text: string) => ({ type: "output_text" as const, text, annotations: [], logprobs: [] });

export function usageBody({ promptTokens, completionTokens }: TokenUsage) {
  return {
    input_tokens: promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: promptTokens + completionTokens,
  };
}

export function responsesEncoder(body: ResponsesRequest, model: string): Encoder {
  const id = `resp_${hex()}`;
  const createdAt = Math.floor(Date.now() / 1000);
  let sequence = 0;
  const event = (type: string, fields: object): SseEvent => ({
    event: type,
    data: { type, sequence_number: sequence++, ...fields },
  });
  /** Items as the stream has them so far; the last may still be open. */
  const items: Item[] = [];
  let open: Item | undefined;
  let result: GenerationResult | undefined;

  const snapshot = (status: string, usage: TokenUsage | null, error: object | null = null) => ({
    id,
    object: "response" as const,
    created_at: createdAt,
    status,
    error,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model,
    output: status === "in_progress" ? [] : items,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: body.temperature ?? 1,
    top_p: body.top_p ?? 1,
    text: { format: body.text?.format ?? { type: "text" } },
    tool_choice: body.tool_choice ?? "auto",
    tools: (body.tools ?? []).map((t) => ({
      type: t.type,
      name: t.name,
      description: t.description ?? null,
      parameters: t.parameters ?? null,
      strict: t.strict ?? null,
    })),
    truncation: "disabled",
    // Left out until it is known, as the SDK's type has it (optional, never null).
    ...(usage ? { usage: usageBody(usage) } : {}),
    ...(body.user === undefined ? {} : { user: body.user }),
    metadata: {},
  });

  const where = (item: Item) => ({ output_index: items.indexOf(item), item_id: item.id });

  const addMessage = (at = items.length): [MessageItem, SseEvent[]] => {
    const item: MessageItem = {
      id: `msg_${hex()}`,
      type: "message",
      role: "assistant",
      status: "in_progress",
      content: [],
    };
    items.splice(at, 0, item);
    open = item;
    return [
      item,
      [
        event("response.output_item.added", { output_index: at, item: { ...item, content: [] } }),
        event("response.content_part.added", { ...where(item), content_index: 0, part: outputText("") }),
      ],
    ];
  };

  /** The done events of the open item, which ends with `status`. */
  const closeOpen = (status: Status): SseEvent[] => {
    const item = open;
    if (!item) return [];
    open = undefined;
    item.status = status;
    if (item.type === "message") {
      const text = item.content[0]?.text ?? "";
      item.content = [outputText(text)];
      return [
        event("response.output_text.done", { ...where(item), content_index: 0, text, logprobs: [] }),
        event("response.content_part.done", { ...where(item), content_index: 0, part: outputText(text) }),
        event("response.output_item.done", { output_index: items.indexOf(item), item }),
      ];
    }
    return [
      event("response.function_call_arguments.done", {
        ...where(item),
        name: item.name,
        arguments: item.arguments,
      }),
      event("response.output_item.done", { output_index: items.indexOf(item), item }),
    ];
  };

  const status = (): Status => (result?.finishReason === "length" ? "incomplete" : "completed");

  return {
    open: () => [
      event("response.created", { response: snapshot("in_progress", null) }),
      event("response.in_progress", { response: snapshot("in_progress", null) }),
    ],
    start: () => [],
    text(_index, text) {
      const events: SseEvent[] = [];
      let item = open?.type === "message" ? open : undefined;
      if (!item) {
        events.push(...closeOpen("completed"));
        const [added, addedEvents] = addMessage();
        item = added;
        events.push(...addedEvents);
      }
      item.content = [outputText((item.content[0]?.text ?? "") + text)];
      events.push(
        event("response.output_text.delta", { ...where(item), content_index: 0, delta: text, logprobs: [] }),
      );
      return events;
    },
    toolCall(_index, name) {
      const events = closeOpen("completed");
      const item: FunctionCallItem = {
        id: `fc_${hex()}`,
        type: "function_call",
        status: "in_progress",
        call_id: toolCallId(),
        name,
        arguments: "",
      };
      items.push(item);
      open = item;
      events.push(event("response.output_item.added", { output_index: items.length - 1, item: { ...item } }));
      return events;
    },
    toolArguments(_index, text) {
      if (open?.type !== "function_call") return [];
      open.arguments += text;
      return [event("response.function_call_arguments.delta", { ...where(open), delta: text })];
    },
    end(_index, r) {
      result = r;
      const final = status();
      const calls = items.filter((i): i is FunctionCallItem => i.type === "function_call");
      // Not streamed, only the calls' names are in yet: the result fills in the rest.
      r.toolCalls.forEach((c, i) => {
        const call = calls[i];
        if (call) call.arguments = c.arguments;
      });
      const message = items.find((i): i is MessageItem => i.type === "message");
      if (message) message.content = [outputText(r.text)];
      const events = closeOpen(final);
      if (!message && (r.text !== "" || calls.length === 0)) {
        // An answer with no text still has its (empty) message, unless it is only calls; a message
        // comes before the calls (streamed, there are none when it is added here).
        const [item, added] = addMessage(0);
        item.content = [outputText(r.text)];
        events.push(...added, ...closeOpen(calls.length ? "completed" : final));
      }
      for (const item of items) if (item.status === "in_progress") item.status = "completed";
      return events;
    },
    close(usage) {
      const done = status();
      return [event(`response.${done}`, { response: snapshot(done, usage) })];
    },
    fail(err) {
      return [
        event("response.failed", {
          response: snapshot("failed", null, { code: "server_error", message: err.message }),
        }),
      ];
    },
    body: (usage) => snapshot(status(), usage),
  };
}
