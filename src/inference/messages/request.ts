import { errors, type Rename } from "../errors.js";
import { check, never, refuseUnsupported, type Unsupported } from "../routes/unsupported.js";
import type { ChatCompletionRequest } from "../schemas.js";
import type { ContentBlock, MessagesRequest } from "./schemas.js";

/**
 * A Messages request as the chat completion it asks for: the system prompt becomes a system message; a
 * user message's text blocks a user message and each tool_result a tool message; an assistant message's
 * text and tool_use blocks one assistant message with tool calls. The rest maps field by field. What the
 * chat path would check in its own names is checked here first, in Anthropic's names.
 */

type ChatMessage = ChatCompletionRequest["messages"][number];
type ToolCall = NonNullable<ChatMessage["tool_calls"]>[number];

const noReasoning = "this model has no reasoning phase";

/** Messages parameters refused by name, unless their value asks for nothing. */
export const unsupportedMessages: Record<string, Unsupported> = {
  container: never("code execution containers are not supported"),
  context_management: never("the context is never edited on the server"),
  diagnostics: never("prompt-cache diagnostics are not reported"),
  inference_geo: never("the model runs where this server runs"),
  mcp_servers: never("MCP servers are not called by this server"),
  service_tier: {
    why: "there is one service tier",
    accepts: (v) => v === "auto" || v === "standard_only",
  },
  speed: { why: "there is one speed", accepts: (v) => v === "standard" },
  thinking: {
    why: noReasoning,
    accepts: (v) => (v as { type?: unknown } | null)?.type === "disabled",
  },
};

const noCitations: Unsupported = {
  why: "citations are not supported",
  accepts: (v) => Array.isArray(v) && v.length === 0,
};

function refuseUnsupportedMessages(body: MessagesRequest): void {
  refuseUnsupported(body, unsupportedMessages);
  check("output_config.effort", body.output_config?.effort, never(noReasoning));
  if (Array.isArray(body.system)) {
    for (const [i, b] of body.system.entries()) check(`system[${i}].citations`, b.citations, noCitations);
  }
  for (const [i, m] of body.messages.entries()) {
    if (typeof m.content === "string") continue;
    for (const [j, b] of m.content.entries()) {
      const at = `messages[${i}].content[${j}]`;
      if (b.type === "text") check(`${at}.citations`, b.citations, noCitations);
      if (b.type === "tool_use") {
        check(`${at}.caller`, b.caller, {
          why: "only the model calls tools",
          accepts: (v) => (v as { type: unknown }).type === "direct",
        });
      }
      if (b.type === "tool_result" && Array.isArray(b.content)) {
        for (const [k, c] of b.content.entries())
          check(`${at}.content[${k}].citations`, c.citations, noCitations);
      }
    }
  }
  for (const [i, t] of (body.tools ?? []).entries()) {
    check(`tools[${i}].allowed_callers`, t.allowed_callers, {
      why: "only the model calls tools",
      accepts: (v) => Array.isArray(v) && v.every((c) => c === "direct"),
    });
    check(`tools[${i}].defer_loading`, t.defer_loading, {
      why: "every tool is in the prompt from the start",
      accepts: (v) => v === false,
    });
    check(`tools[${i}].input_examples`, t.input_examples, {
      why: "tool examples are not put in the prompt",
      accepts: (v) => Array.isArray(v) && v.length === 0,
    });
  }
}

/** The chat path's names for what a Messages request calls otherwise. */
export const messagesNames: Rename[] = [
  [/response_format\.json_schema\.schema/g, "output_config.format.schema"],
  [/response_format/g, "output_config.format"],
  [/tools\[(\d+)\]\.function\.parameters/g, "tools[$1].input_schema"],
];

// Blocks of text are paragraphs: joined with a blank line, so that two system blocks do not run together.
const joined = (blocks: { text: string }[]) => blocks.map((b) => b.text).join("\n\n");

function invalid(param: string, why: string): never {
  throw errors.invalidRequest(`Invalid value for '${param}': ${why}`, param);
}

/** One user message's blocks: text as user messages, each tool_result as the tool message of its call. */
function userMessages(blocks: ContentBlock[], i: number, calls: Set<string>): ChatMessage[] {
  const out: ChatMessage[] = [];
  let text: { text: string }[] = [];
  const flush = () => {
    if (text.length) out.push({ role: "user", content: joined(text) });
    text = [];
  };
  for (const [j, b] of blocks.entries()) {
    if (b.type === "text") {
      text.push(b);
    } else if (b.type === "tool_result") {
      if (!calls.has(b.tool_use_id)) {
        invalid(
          `messages[${i}].content[${j}].tool_use_id`,
          `no tool_use block of an earlier assistant message has id '${b.tool_use_id}'.`,
        );
      }
      flush();
      const content =
        b.content === undefined ? "" : typeof b.content === "string" ? b.content : joined(b.content);
      // The chat template has no place for a failed call: the model reads the failure in the result.
      out.push({
        role: "tool",
        tool_call_id: b.tool_use_id,
        content: b.is_error ? `Error: ${content}` : content,
      });
    } else {
      invalid(`messages[${i}].content[${j}].type`, "'tool_use' blocks belong in assistant messages.");
    }
  }
  flush();
  return out;
}

function assistantMessage(blocks: ContentBlock[], i: number, calls: Set<string>): ChatMessage {
  const text: { text: string }[] = [];
  const toolCalls: ToolCall[] = [];
  for (const [j, b] of blocks.entries()) {
    if (b.type === "text") {
      text.push(b);
    } else if (b.type === "tool_use") {
      if (calls.has(b.id)) {
        invalid(`messages[${i}].content[${j}].id`, `an earlier tool_use block has id '${b.id}'.`);
      }
      calls.add(b.id);
      toolCalls.push({
        id: b.id,
        type: "function",
        function: { name: b.name, arguments: JSON.stringify(b.input) },
      });
    } else {
      invalid(`messages[${i}].content[${j}].type`, "'tool_result' blocks belong in user messages.");
    }
  }
  return {
    role: "assistant",
    content: text.length ? joined(text) : toolCalls.length ? null : "",
    ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
  };
}

function messages(body: MessagesRequest): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (body.system !== undefined) {
    const system = typeof body.system === "string" ? body.system : joined(body.system);
    out.push({ role: "system", content: system });
  }
  const last = body.messages.length - 1;
  if (body.messages[last]?.role === "assistant") {
    // Anthropic continues a final assistant message; the chat path would answer after it instead.
    throw errors.invalidRequest(
      `Unsupported value: 'messages[${last}]': a final assistant message (a prefill for the answer to continue) is not supported; end with a user message.`,
      `messages[${last}]`,
      "unsupported_value",
    );
  }
  const calls = new Set<string>();
  for (const [i, m] of body.messages.entries()) {
    const blocks: ContentBlock[] =
      typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    if (m.role === "user") out.push(...userMessages(blocks, i, calls));
    else out.push(assistantMessage(blocks, i, calls));
  }
  return out;
}

function toolChoice(
  body: MessagesRequest,
): Pick<ChatCompletionRequest, "tool_choice" | "parallel_tool_calls"> {
  const choice = body.tool_choice;
  if (!choice) return {};
  if (choice.type === "none") return { tool_choice: "none" };
  const parallel = choice.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {};
  if (choice.type === "auto") return { tool_choice: "auto", ...parallel };
  if (choice.type === "any") return { tool_choice: "required", ...parallel };
  if (!body.tools?.some((t) => t.name === choice.name)) {
    invalid("tool_choice.name", `'${choice.name}' is not the name of one of 'tools'.`);
  }
  return { tool_choice: { type: "function", function: { name: choice.name } }, ...parallel };
}

/** The chat completion a Messages request asks for; throws a 400 in Anthropic's names. */
export function chatRequest(body: MessagesRequest): ChatCompletionRequest {
  refuseUnsupportedMessages(body);
  const format = body.output_config?.format;
  // Undefined is absent to the chat path: it reads a missing field as its default.
  const chat: ChatCompletionRequest = {
    model: body.model,
    messages: messages(body),
    max_tokens: body.max_tokens,
    stop: body.stop_sequences,
    temperature: body.temperature,
    top_p: body.top_p,
    top_k: body.top_k,
    tools: body.tools?.map((t) => ({
      type: "function" as const,
      function: { name: t.name, description: t.description, parameters: t.input_schema },
    })),
    ...toolChoice(body),
    response_format: format
      ? { type: "json_schema", json_schema: { name: "output", schema: format.schema } }
      : undefined,
    stream: body.stream,
    user: body.metadata?.user_id ?? undefined,
  };
  return chat;
}
