import type { Token } from "node-llama-cpp";
import type { ChatMessage, Prompt, ResponseFormat, SamplingParams } from "../engine.js";
import { errors } from "../errors.js";
import type { ChatCompletionRequest, CompletionRequest } from "../schemas.js";
import type { Tools } from "../tools.js";
import {
  refuseUnsupported,
  refuseUnsupportedChat,
  refuseUnsupportedOptions,
  unsupportedCompletion,
} from "./unsupported.js";

/** A generation request as the routes run it, whichever API it came through. */

export type Kind = "chat" | "completion";

export interface Job {
  kind: Kind;
  route: string;
  model: string;
  n: number;
  prompt: Prompt;
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
  /** The prompt text each choice's text starts with (`echo`). */
  echo?: string | undefined;
  /** Ids for the request's log lines (`user`, `safety_identifier`). */
  endUser?: Record<string, string> | undefined;
}

function responseFormat(body: ChatCompletionRequest | CompletionRequest): ResponseFormat | undefined {
  const f = body.response_format;
  if (!f || f.type === "text") return undefined;
  if (f.type === "json_object") return { type: "json_object" };
  if (!f.json_schema.schema) {
    throw errors.invalidRequest(
      "Missing required parameter: 'response_format.json_schema.schema'.",
      "response_format.json_schema.schema",
    );
  }
  return { type: "json_schema", schema: f.json_schema.schema };
}

function logitBias(body: ChatCompletionRequest | CompletionRequest) {
  const entries = Object.entries(body.logit_bias ?? {});
  return entries.length ? new Map(entries.map(([token, bias]) => [Number(token) as Token, bias])) : undefined;
}

function sampling(
  body: ChatCompletionRequest | CompletionRequest,
  maxTokens: number | null | undefined,
  logprobs: number | undefined,
): SamplingParams {
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    maxTokens: maxTokens ?? undefined,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    topK: body.top_k ?? undefined,
    minP: body.min_p ?? undefined,
    seed: body.seed ?? undefined,
    stop,
    presencePenalty: body.presence_penalty ?? undefined,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    responseFormat: responseFormat(body),
    logitBias: logitBias(body),
    logprobs,
  };
}

/** What both routes share; the rest is the prompt, the token limit and the logprobs asked for. */
function job(
  kind: Kind,
  body: ChatCompletionRequest | CompletionRequest,
  prompt: Prompt,
  maxTokens: number | null | undefined,
  logprobs: number | undefined,
  endUser: Record<string, string | undefined>,
): Job {
  const ids = Object.entries(endUser).filter((e): e is [string, string] => e[1] !== undefined);
  return {
    kind,
    route: kind === "chat" ? "/v1/chat/completions" : "/v1/completions",
    model: body.model,
    n: body.n ?? 1,
    prompt,
    sampling: sampling(body, maxTokens, logprobs),
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    endUser: ids.length ? Object.fromEntries(ids) : undefined,
  };
}

/** `logprobs: true` with `top_logprobs` alternatives; `top_logprobs` alone is refused, as OpenAI does. */
function chatLogprobs(body: ChatCompletionRequest): number | undefined {
  if (body.logprobs === true) return body.top_logprobs ?? 0;
  if (body.top_logprobs != null) {
    throw errors.invalidRequest(
      "Invalid value for 'top_logprobs': it is only allowed when 'logprobs' is true.",
      "top_logprobs",
      "invalid_value",
    );
  }
  return undefined;
}

export function chatJob(body: ChatCompletionRequest): Job {
  refuseUnsupportedChat(body);
  const messages: ChatMessage[] = body.messages.map((m) => ({
    role: m.role,
    content:
      m.content == null
        ? null
        : typeof m.content === "string"
          ? m.content
          : m.content.map((p) => p.text).join(""),
    toolCalls: m.tool_calls?.map((c) => ({
      id: c.id,
      name: c.function.name,
      arguments: c.function.arguments,
    })),
    toolCallId: m.tool_call_id,
    name: m.role === "tool" ? m.name : undefined,
  }));
  const prompt: Prompt = { kind: "chat", messages, tools: tools(body) };
  return job("chat", body, prompt, body.max_completion_tokens ?? body.max_tokens, chatLogprobs(body), {
    user: body.user,
    safety_identifier: body.safety_identifier,
  });
}

/** The request's tools as the engine takes them; none when there are none or `tool_choice` is "none". */
function tools(body: ChatCompletionRequest): Tools | undefined {
  const choice = body.tool_choice ?? "auto";
  const functions = (body.tools ?? []).map((t) => ({
    name: t.function.name,
    description: t.function.description,
    // OpenAI allows leaving parameters out: a function that takes no arguments.
    parameters: t.function.parameters ?? { type: "object", properties: {} },
  }));
  if (functions.length === 0) {
    if (choice !== "auto" && choice !== "none") {
      throw errors.invalidRequest("'tool_choice' is only allowed when 'tools' are specified.", "tool_choice");
    }
    return undefined;
  }
  if (choice === "none") return undefined;
  const parallel = body.parallel_tool_calls ?? true;
  if (typeof choice === "object") {
    const { name } = choice.function;
    if (!functions.some((f) => f.name === name)) {
      throw errors.invalidRequest(
        `Tool choice 'function' with name '${name}' is not in 'tools'.`,
        "tool_choice",
      );
    }
    return { functions, choice: { name }, parallel };
  }
  return { functions, choice, parallel };
}

export function completionJob(body: CompletionRequest): Job {
  refuseUnsupported(body, unsupportedCompletion);
  refuseUnsupportedOptions(body);
  const text = typeof body.prompt === "string" ? body.prompt : (body.prompt[0] ?? "");
  const logprobs = body.logprobs ?? undefined;
  const j = job("completion", body, { kind: "text", text }, body.max_tokens, logprobs, { user: body.user });
  if (body.echo !== true) return j;
  return { ...j, echo: text, sampling: { ...j.sampling, promptLogprobs: logprobs !== undefined } };
}
