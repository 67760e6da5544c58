import type { ChatHistoryItem, ChatModelFunctionCall } from "node-llama-cpp";
import { errors } from "./errors.js";

/**
 * OpenAI chat messages as node-llama-cpp's chat history, which the model's chat wrapper renders. A tool
 * call and its result are one item there, so each assistant `tool_calls` entry takes the content of the
 * `tool` message that answers it (matched by `tool_call_id`).
 */

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text, as OpenAI sends and receives it. */
  arguments: string;
}

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content: string | null;
  toolCalls?: ToolCall[] | undefined;
  toolCallId?: string | undefined;
  /** On a tool message, the function that answers (LangChain sends it): it must be the call's. */
  name?: string | undefined;
}

export function chatHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const results = new Map<string, string>();
  messages.forEach((m, i) => {
    if (m.role !== "tool") return;
    if (!m.toolCallId) {
      throw errors.invalidRequest(
        `messages[${i}]: a message with role 'tool' needs 'tool_call_id'.`,
        `messages[${i}].tool_call_id`,
      );
    }
    results.set(m.toolCallId, m.content ?? "");
  });
  const calls = new Map<string, string>();
  const history: ChatHistoryItem[] = [];
  messages.forEach((m, i) => {
    if (m.role === "tool") {
      const called = calls.get(m.toolCallId ?? "");
      if (called === undefined) {
        throw errors.invalidRequest(
          `messages[${i}]: a message with role 'tool' must answer a tool call of an earlier assistant message; ` +
            `no call has id '${m.toolCallId}'.`,
          `messages[${i}].tool_call_id`,
        );
      }
      if (m.name !== undefined && m.name !== called) {
        throw errors.invalidRequest(
          `messages[${i}]: name '${m.name}' is not the function of call '${m.toolCallId}' ('${called}').`,
          `messages[${i}].name`,
        );
      }
      return;
    }
    if (m.role === "assistant") {
      const response: (string | ChatModelFunctionCall)[] = m.content ? [m.content] : [];
      for (const [j, call] of (m.toolCalls ?? []).entries()) {
        calls.set(call.id, call.name);
        response.push({
          type: "functionCall",
          name: call.name,
          params: parseArguments(call.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
          result: parseResult(results.get(call.id) ?? ""),
        });
      }
      history.push({ type: "model", response });
      return;
    }
    if (m.content === null) {
      throw errors.invalidRequest(
        `messages[${i}]: a '${m.role}' message needs content.`,
        `messages[${i}].content`,
      );
    }
    history.push(m.role === "user" ? { type: "user", text: m.content } : { type: "system", text: m.content });
  });
  return history;
}

function parseArguments(text: string, param: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw errors.invalidRequest(`${param} is not valid JSON.`, param);
  }
}

/** Tool results are free text; one that is JSON is rendered as JSON, the way the wrapper documents calls. */
function parseResult(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
