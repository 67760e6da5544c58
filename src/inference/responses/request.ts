import { errors, type Rename } from "../errors.js";
import {
  check,
  isEmptyObject,
  never,
  noCache,
  refuseUnsupported,
  refuseUnsupportedOptions,
  unsupportedChat,
  type Unsupported,
} from "../routes/unsupported.js";
import type { ChatCompletionRequest } from "../schemas.js";
import type { InputItem, ResponsesRequest } from "./schemas.js";

/**
 * A Responses request as the chat completion it asks for: `instructions` and the input items become chat
 * messages (a function_call joins the assistant turn before it; its output becomes a tool message), the
 * rest maps field by field. What the chat path would check in its own names is checked here first, in
 * the Responses API's names.
 */

type ChatMessage = ChatCompletionRequest["messages"][number];

const notStored = "responses are not stored: send the earlier turns as input items";

/** Responses parameters refused by name, unless their value asks for nothing. */
export const unsupportedResponses: Record<string, Unsupported> = {
  background: { why: "a response runs while its request is open", accepts: (v) => v === false },
  context_management: never("the context is never compacted"),
  conversation: never(notStored),
  include: {
    why: "no extra output data is served",
    accepts: (v) => Array.isArray(v) && v.length === 0,
  },
  max_tool_calls: never("send parallel_tool_calls: false for at most one call"),
  metadata: { why: notStored, accepts: isEmptyObject },
  previous_response_id: never(notStored),
  prompt: never("prompt templates are not stored on this server"),
  prompt_cache_key: noCache,
  prompt_cache_retention: noCache,
  reasoning: {
    why: "this model has no reasoning phase to size or summarize",
    accepts: (v) => typeof v === "object" && v !== null && Object.values(v).every((x) => x == null),
  },
  service_tier: unsupportedChat.service_tier ?? never("there is one service tier"),
  store: { why: notStored, accepts: (v) => v === false },
  top_logprobs: never("logprobs are served on /v1/chat/completions"),
  truncation: {
    why: "an input that does not fit is refused, never truncated",
    accepts: (v) => v === "disabled",
  },
};

function refuseUnsupportedResponses(body: ResponsesRequest): void {
  refuseUnsupported(body, unsupportedResponses);
  refuseUnsupportedOptions(body);
  check("text.verbosity", body.text?.verbosity, never("the answer's length is set by max_output_tokens"));
  const format = body.text?.format;
  if (format?.type === "json_schema") {
    check(
      "text.format.description",
      format.description,
      never("the schema constrains the output by grammar; its description does not reach the model"),
    );
  }
  for (const [i, tool] of (body.tools ?? []).entries()) {
    check(`tools[${i}].defer_loading`, tool.defer_loading, {
      why: "every tool is in the prompt from the start",
      accepts: (v) => v === false,
    });
  }
}

/** The chat path's names for what a Responses request calls otherwise. */
export const responsesNames: Rename[] = [
  [/^messages$/, "input"],
  [/max_tokens/g, "max_output_tokens"],
  [/response_format\.json_schema\.schema/g, "text.format.schema"],
  [/response_format/g, "text.format"],
  [/tools\[(\d+)\]\.function\.parameters/g, "tools[$1].parameters"],
];

function messageText(item: Extract<InputItem, { role: string }>, i: number): string {
  if (typeof item.content === "string") return item.content;
  return item.content
    .map((part, j) => {
      // An answer's own text comes back only as the assistant's.
      if (part.type === "output_text" && item.role !== "assistant") {
        throw errors.invalidRequest(
          `Invalid value for 'input[${i}].content[${j}].type': 'output_text' is only allowed in assistant messages; send 'input_text'.`,
          `input[${i}].content[${j}].type`,
        );
      }
      return part.text;
    })
    .join("");
}

function messages(body: ResponsesRequest): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (body.instructions != null) out.push({ role: "system", content: body.instructions });
  if (typeof body.input === "string") {
    out.push({ role: "user", content: body.input });
    return out;
  }
  const calls = new Set<string>();
  for (const [i, item] of body.input.entries()) {
    if (item.type === "function_call") {
      if (calls.has(item.call_id)) {
        throw errors.invalidRequest(
          `Invalid value for 'input[${i}].call_id': an earlier function_call has call_id '${item.call_id}'.`,
          `input[${i}].call_id`,
        );
      }
      try {
        JSON.parse(item.arguments);
      } catch {
        throw errors.invalidRequest(`input[${i}].arguments is not valid JSON.`, `input[${i}].arguments`);
      }
      calls.add(item.call_id);
      const call = {
        id: item.call_id,
        type: "function" as const,
        function: { name: item.name, arguments: item.arguments },
      };
      // Calls that follow an assistant message (or each other) are that one turn's calls.
      const last = out.at(-1);
      if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), call];
      else out.push({ role: "assistant", content: null, tool_calls: [call] });
    } else if (item.type === "function_call_output") {
      if (!calls.has(item.call_id)) {
        throw errors.invalidRequest(
          `Invalid value for 'input[${i}].call_id': no function_call before it has call_id '${item.call_id}'.`,
          `input[${i}].call_id`,
        );
      }
      const output = typeof item.output === "string" ? item.output : item.output.map((p) => p.text).join("");
      out.push({ role: "tool", tool_call_id: item.call_id, content: output });
    } else {
      out.push({ role: item.role, content: messageText(item, i) });
    }
  }
  return out;
}

function responseFormat(body: ResponsesRequest): ChatCompletionRequest["response_format"] {
  const format = body.text?.format;
  if (format?.type !== "json_schema") return format;
  const { name, schema, strict } = format;
  return { type: "json_schema", json_schema: { name, schema, strict } };
}

function toolChoice(body: ResponsesRequest): ChatCompletionRequest["tool_choice"] {
  const choice = body.tool_choice;
  if (typeof choice !== "object") return choice;
  return { type: "function", function: { name: choice.name } };
}

/** The chat completion a Responses request asks for; throws a 400 in the Responses API's names. */
export function chatRequest(body: ResponsesRequest): ChatCompletionRequest {
  refuseUnsupportedResponses(body);
  // Undefined is absent to the chat path: it reads a missing field as its default.
  const chat: ChatCompletionRequest = {
    model: body.model,
    messages: messages(body),
    max_completion_tokens: body.max_output_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    tools: body.tools?.map((t) => ({
      type: "function" as const,
      function: {
        name: t.name,
        description: t.description ?? undefined,
        parameters: t.parameters ?? undefined,
        strict: t.strict,
      },
    })),
    tool_choice: toolChoice(body),
    parallel_tool_calls: body.parallel_tool_calls,
    response_format: responseFormat(body),
    stream: body.stream,
    user: body.user,
    safety_identifier: body.safety_identifier,
  };
  return chat;
}
