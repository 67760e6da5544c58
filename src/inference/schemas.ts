import { Type, type Static, type TProperties, type TSchema, type TUnsafe } from "@sinclair/typebox";
import { FUNCTION_NAME } from "./tools.js";

/**
 * OpenAI-compatible request and response schemas. Requests reject wrong types and out-of-range values
 * naming the field. Fields outside OpenAI's API are ignored, as other OpenAI-compatible servers do; the
 * OpenAI parameters this server cannot honour are refused by name (routes/unsupported.ts).
 */

/**
 * One of several objects told apart by their `type`, as an if/then/else chain rather than a union: ajv
 * then reports the error inside the branch the type picks (`input[2].call_id` is missing) where a union
 * reports every branch, and a type no branch has as one `enum` error that lists the known ones.
 * `untagged` names the branch of an object that has no `type` (a Responses message may leave it out).
 */
export function tagged<B extends Record<string, TSchema>>(
  branches: B,
  untagged?: keyof B & string,
): TUnsafe<Static<B[keyof B]>> {
  const names = Object.keys(branches);
  const chain = (rest: string[]): object => {
    const [name, ...others] = rest;
    if (name === undefined) return { properties: { type: { enum: names } }, required: ["type"] };
    return {
      if: { properties: { type: { const: name } }, required: ["type"] },
      then: branches[name],
      else: chain(others),
    };
  };
  const body =
    untagged === undefined
      ? chain(names)
      : { if: { not: { required: ["type"] } }, then: branches[untagged], else: chain(names) };
  return Type.Unsafe<Static<B[keyof B]>>({ type: "object", ...body });
}

const Stop = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Array(Type.String({ minLength: 1 }), { maxItems: 16 }),
  Type.Null(),
]);

const Sampling = {
  model: Type.String({ minLength: 1 }),
  max_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()])),
  temperature: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()])),
  top_p: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()])),
  top_k: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
  min_p: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()])),
  seed: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 }), Type.Null()])),
  stop: Type.Optional(Stop),
  presence_penalty: Type.Optional(Type.Union([Type.Number({ minimum: -2, maximum: 2 }), Type.Null()])),
  frequency_penalty: Type.Optional(Type.Union([Type.Number({ minimum: -2, maximum: 2 }), Type.Null()])),
  // OpenAI's own bound; choices are generated one after another on the request's slot.
  n: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 128 }), Type.Null()])),
  stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  stream_options: Type.Optional(
    Type.Union([Type.Object({ include_usage: Type.Optional(Type.Boolean()) }), Type.Null()]),
  ),
  // Keys are token ids; OpenAI's range of bias values.
  logit_bias: Type.Optional(
    Type.Union([
      // propertyNames, not additionalProperties: fastify's ajv removes additional properties silently.
      Type.Record(Type.String(), Type.Number({ minimum: -100, maximum: 100 }), {
        propertyNames: { pattern: "^(0|[1-9][0-9]{0,9})$" },
      }),
      Type.Null(),
    ]),
  ),
  // An end user's id: it goes on the request's log lines, which is what OpenAI uses it for.
  user: Type.Optional(Type.String()),
  response_format: Type.Optional(
    Type.Union([
      Type.Object({ type: Type.Literal("text") }),
      Type.Object({ type: Type.Literal("json_object") }),
      Type.Object({
        type: Type.Literal("json_schema"),
        json_schema: Type.Object({
          name: Type.Optional(Type.String()),
          schema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
        }),
      }),
    ]),
  ),
};

const TextPart = Type.Object({ type: Type.Literal("text"), text: Type.String() });

export const FunctionName = Type.String({ pattern: FUNCTION_NAME });

const ToolCall = Type.Object({
  id: Type.String({ minLength: 1 }),
  type: Type.Literal("function"),
  function: Type.Object({ name: FunctionName, arguments: Type.String() }),
});

export const ChatMessage = Type.Object({
  role: Type.Unsafe<"system" | "developer" | "user" | "assistant" | "tool">({
    type: "string",
    enum: ["system", "developer", "user", "assistant", "tool"],
  }),
  // null only where OpenAI allows it: an assistant message that carries tool calls.
  content: Type.Optional(Type.Union([Type.String(), Type.Array(TextPart, { minItems: 1 }), Type.Null()])),
  // A tool message's function (checked against its call); on other roles refused (routes/unsupported.ts).
  name: Type.Optional(Type.String()),
  tool_calls: Type.Optional(Type.Array(ToolCall)),
  tool_call_id: Type.Optional(Type.String({ minLength: 1 })),
});

const Tool = Type.Object({
  type: Type.Literal("function"),
  function: Type.Object({
    name: FunctionName,
    description: Type.Optional(Type.String()),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  }),
});

export const ChatCompletionRequest = Type.Object({
  ...Sampling,
  messages: Type.Array(ChatMessage, { minItems: 1 }),
  tools: Type.Optional(Type.Union([Type.Array(Tool, { maxItems: 128 }), Type.Null()])),
  tool_choice: Type.Optional(
    Type.Union([
      Type.Literal("none"),
      Type.Literal("auto"),
      Type.Literal("required"),
      Type.Object({ type: Type.Literal("function"), function: Type.Object({ name: FunctionName }) }),
      Type.Null(),
    ]),
  ),
  // true (OpenAI's default): one or more calls per choice; false: at most one.
  parallel_tool_calls: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  logprobs: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  top_logprobs: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 20 }), Type.Null()])),
  // Like `user`: an id for the request's log lines.
  safety_identifier: Type.Optional(Type.String()),
  max_completion_tokens: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]),
  ),
});
export type ChatCompletionRequest = Static<typeof ChatCompletionRequest>;

export const CompletionRequest = Type.Object({
  ...Sampling,
  prompt: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1, maxItems: 1 })]),
  logprobs: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 5 }), Type.Null()])),
  // The prompt's text before the completion's (and, with logprobs, its tokens before the completion's).
  echo: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
});
export type CompletionRequest = Static<typeof CompletionRequest>;

export const Usage = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
});

const FinishReason = Type.Union([Type.Literal("stop"), Type.Literal("length"), Type.Literal("tool_calls")]);

/** A completion response around its kind of choice: the same envelope for chat and text. */
function completionResponse<O extends string, C extends TProperties>(object: O, choice: C) {
  return Type.Object({
    id: Type.String(),
    object: Type.Literal(object),
    created: Type.Integer(),
    model: Type.String(),
    system_fingerprint: Type.String(),
    choices: Type.Array(Type.Object({ index: Type.Integer(), ...choice, finish_reason: FinishReason })),
    usage: Usage,
  });
}

const TopLogprob = Type.Object({
  token: Type.String(),
  logprob: Type.Number(),
  bytes: Type.Union([Type.Array(Type.Integer()), Type.Null()]),
});

/** A chat choice's `logprobs`: the content's tokens, each with its most likely alternatives. */
export const ChatLogprobs = Type.Union([
  Type.Object({
    content: Type.Union([
      Type.Array(Type.Object({ ...TopLogprob.properties, top_logprobs: Type.Array(TopLogprob) })),
      Type.Null(),
    ]),
    refusal: Type.Null(),
  }),
  Type.Null(),
]);

/** A text completion choice's `logprobs`, in the legacy columns; a prompt's first token may have none. */
export const CompletionLogprobs = Type.Union([
  Type.Object({
    tokens: Type.Array(Type.String()),
    token_logprobs: Type.Array(Type.Union([Type.Number(), Type.Null()])),
    top_logprobs: Type.Array(Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()])),
    text_offset: Type.Array(Type.Integer()),
  }),
  Type.Null(),
]);

export const ChatCompletionResponse = completionResponse("chat.completion", {
  message: Type.Object({
    role: Type.Literal("assistant"),
    // null when the answer is a tool call with no text, as OpenAI sends it.
    content: Type.Union([Type.String(), Type.Null()]),
    refusal: Type.Null(),
    tool_calls: Type.Optional(Type.Array(ToolCall)),
  }),
  logprobs: ChatLogprobs,
});

export const CompletionResponse = completionResponse("text_completion", {
  text: Type.String(),
  logprobs: CompletionLogprobs,
});

export const ErrorResponse = Type.Object({
  error: Type.Object({
    message: Type.String(),
    type: Type.String(),
    param: Type.Union([Type.String(), Type.Null()]),
    code: Type.Union([Type.String(), Type.Null()]),
  }),
});

export const ModelObject = Type.Object({
  id: Type.String(),
  object: Type.Literal("model"),
  created: Type.Integer(),
  owned_by: Type.String(),
  context_length: Type.Integer(),
  parallel: Type.Integer(),
  sha256: Type.Union([Type.String(), Type.Null()]),
});

export const ModelList = Type.Object({ object: Type.Literal("list"), data: Type.Array(ModelObject) });

/** Error responses every generation route can give. */
export const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  404: ErrorResponse,
  413: ErrorResponse,
  429: ErrorResponse,
  500: ErrorResponse,
  503: ErrorResponse,
};

const EMBEDDING_INPUTS = 2048; // OpenAI's limit on inputs per request

export const EmbeddingRequest = Type.Object({
  model: Type.String({ minLength: 1 }),
  input: Type.Union([
    Type.String({ minLength: 1 }),
    Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: EMBEDDING_INPUTS }),
    Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
    Type.Array(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }), {
      minItems: 1,
      maxItems: EMBEDDING_INPUTS,
    }),
  ]),
  encoding_format: Type.Optional(Type.Union([Type.Literal("float"), Type.Literal("base64")])),
  dimensions: Type.Optional(Type.Integer({ minimum: 1 })),
  user: Type.Optional(Type.String()),
});
export type EmbeddingRequest = Static<typeof EmbeddingRequest>;

export const EmbeddingResponse = Type.Object({
  object: Type.Literal("list"),
  data: Type.Array(
    Type.Object({
      object: Type.Literal("embedding"),
      index: Type.Integer(),
      // base64: the float32 vector's little-endian bytes, as OpenAI sends it.
      embedding: Type.Union([Type.Array(Type.Number()), Type.String()]),
    }),
  ),
  model: Type.String(),
  usage: Type.Object({ prompt_tokens: Type.Integer(), total_tokens: Type.Integer() }),
});
