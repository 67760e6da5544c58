import { ApiError } from "../errors.js";

/**
 * The parameters of OpenAI's chat and completions APIs this server cannot honour (the Responses and
 * Messages APIs keep their tables beside their translations, with the helpers below). Each is refused with
 * a 400 naming it rather than accepted and ignored, unless its value asks only for what the server does
 * anyway (`store: false`, `modalities: ["text"]`); null, like absence, asks for nothing. The schemas
 * declare the parameters that work; a test holds the two lists against the openai package's own request
 * types, so a parameter OpenAI adds is noticed.
 */

export interface Unsupported {
  why: string;
  /** Values that ask for nothing this server does not do. */
  accepts?: (value: unknown) => boolean;
}

export const never = (why: string): Unsupported => ({ why });
export const noCache = never("prompts are not cached across requests");
const notStored = "completions are not stored";

export const unsupportedChat: Record<string, Unsupported> = {
  audio: never("audio output is not supported"),
  modalities: {
    why: "only text output is supported",
    accepts: (v) => Array.isArray(v) && v.every((m) => m === "text"),
  },
  functions: never("the deprecated 'functions' is not supported; send 'tools'"),
  function_call: never("the deprecated 'function_call' is not supported; send 'tool_choice'"),
  store: { why: notStored, accepts: (v) => v === false },
  metadata: { why: notStored, accepts: (v) => isEmptyObject(v) },
  prediction: never("predicted outputs are not supported"),
  prompt_cache_key: noCache,
  prompt_cache_retention: noCache,
  reasoning_effort: never("this model has no reasoning phase to size"),
  service_tier: {
    why: "there is one service tier",
    accepts: (v) => v === "auto" || v === "default",
  },
  verbosity: never("the answer's length is set by max_tokens and stop only"),
  web_search_options: never("web search is not supported"),
};

export const unsupportedCompletion: Record<string, Unsupported> = {
  best_of: { why: "candidates are not ranked on the server; send n", accepts: (v) => v === 1 },
  suffix: never("insertion (a suffix after the completion) is not supported"),
};

export function isEmptyObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && Object.keys(v).length === 0;
}

function refuse(param: string, value: unknown, u: Unsupported): never {
  if (u.accepts) {
    throw new ApiError(
      400,
      "invalid_request_error",
      "unsupported_value",
      `Unsupported value: '${param}' does not support ${JSON.stringify(value)} on this server: ${u.why}.`,
      param,
    );
  }
  throw new ApiError(
    400,
    "invalid_request_error",
    "unsupported_parameter",
    `Unsupported parameter: '${param}' is not supported by this server: ${u.why}.`,
    param,
  );
}

/** Throws for `value` of `param` unless it is absent, null, or asks for nothing `u` refuses. */
export function check(param: string, value: unknown, u: Unsupported) {
  if (value == null || u.accepts?.(value)) return;
  refuse(param, value, u);
}

/** Throws for the first parameter of `body` (top level) that `table` lists and its value asks for. */
export function refuseUnsupported(body: object, table: Record<string, Unsupported>): void {
  for (const [param, value] of Object.entries(body)) {
    const u = table[param];
    if (u) check(param, value, u);
  }
}

/** The nested parameters both routes share. */
export function refuseUnsupportedOptions(body: {
  stream?: boolean | null | undefined;
  stream_options?: object | null | undefined;
}): void {
  const options = body.stream_options as Record<string, unknown> | null | undefined;
  if (options != null && body.stream !== true) {
    // As OpenAI answers it: the options of a stream that is not there would be ignored.
    throw new ApiError(
      400,
      "invalid_request_error",
      "invalid_value",
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      "stream_options",
    );
  }
  check("stream_options.include_obfuscation", options?.include_obfuscation, {
    why: "streamed events are not padded",
    accepts: (v) => v === false,
  });
}

/** The nested parameters of a chat request. */
export function refuseUnsupportedChat(body: {
  messages: object[];
  response_format?: object | null | undefined;
  stream?: boolean | null | undefined;
  stream_options?: object | null | undefined;
}): void {
  refuseUnsupported(body, unsupportedChat);
  refuseUnsupportedOptions(body);
  for (const [i, m] of body.messages.entries()) {
    const message = m as Record<string, unknown>;
    // A tool message's name is its function's, checked against the call (chat-history.ts).
    if (message.role !== "tool") {
      check(`messages[${i}].name`, message.name, {
        why: "the chat template has no place for a participant's name; put it in the content",
      });
    }
    check(`messages[${i}].refusal`, message.refusal, never("an earlier refusal cannot be replayed"));
    check(`messages[${i}].audio`, message.audio, never("audio is not supported"));
    check(`messages[${i}].function_call`, message.function_call, never("send 'tool_calls'"));
  }
  const format = body.response_format as { json_schema?: { description?: unknown } } | null | undefined;
  check(
    "response_format.json_schema.description",
    format?.json_schema?.description,
    never("the schema constrains the output by grammar; its description does not reach the model"),
  );
}
