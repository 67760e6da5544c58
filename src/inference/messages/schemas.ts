import { Type, type Static } from "@sinclair/typebox";
import { FunctionName, tagged } from "../schemas.js";

/**
 * Anthropic's Messages API, as far as it maps onto a chat completion: a system prompt, text, tool_use
 * and tool_result blocks, custom tools, structured output. Blocks and tools of other types are refused by
 * schema (an `enum` error naming the known types); parameters this server cannot honour are refused by
 * name (messages/request.ts). `cache_control` is accepted wherever Anthropic allows it: it is a hint
 * about caching that changes no answer, and clients mark their prompts with it as a matter of course.
 */

const CacheControl = Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]));

const TextBlock = Type.Object({
  type: Type.Literal("text"),
  text: Type.String(),
  cache_control: CacheControl,
  // Refused unless empty (messages/request.ts): citing sources is not supported.
  citations: Type.Optional(Type.Union([Type.Array(Type.Unknown()), Type.Null()])),
});

const ToolUseBlock = Type.Object({
  type: Type.Literal("tool_use"),
  id: Type.String({ minLength: 1 }),
  name: FunctionName,
  input: Type.Record(Type.String(), Type.Unknown()),
  cache_control: CacheControl,
  // Refused unless direct (messages/request.ts).
  caller: Type.Optional(Type.Object({ type: Type.String() })),
});

const ToolResultBlock = Type.Object({
  type: Type.Literal("tool_result"),
  tool_use_id: Type.String({ minLength: 1 }),
  content: Type.Optional(Type.Union([Type.String(), Type.Array(tagged({ text: TextBlock }))])),
  is_error: Type.Optional(Type.Boolean()),
  cache_control: CacheControl,
});

export const ContentBlock = tagged({ text: TextBlock, tool_use: ToolUseBlock, tool_result: ToolResultBlock });
export type ContentBlock = Static<typeof ContentBlock>;

export const MessageParam = Type.Object({
  role: Type.Unsafe<"user" | "assistant">({ type: "string", enum: ["user", "assistant"] }),
  content: Type.Union([Type.String(), Type.Array(ContentBlock)]),
});
export type MessageParam = Static<typeof MessageParam>;

const CustomTool = Type.Object({
  type: Type.Optional(Type.Literal("custom")),
  name: FunctionName,
  description: Type.Optional(Type.String()),
  input_schema: Type.Object({ type: Type.Literal("object") }),
  cache_control: CacheControl,
  // The arguments are always held to the schema by grammar.
  strict: Type.Optional(Type.Boolean()),
  // The arguments always stream as they are generated.
  eager_input_streaming: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  // Refused unless they ask for nothing (messages/request.ts).
  allowed_callers: Type.Optional(Type.Array(Type.String())),
  defer_loading: Type.Optional(Type.Boolean()),
  input_examples: Type.Optional(Type.Array(Type.Unknown())),
});

const Parallel = { disable_parallel_tool_use: Type.Optional(Type.Boolean()) };

const ToolChoice = tagged({
  auto: Type.Object({ type: Type.Literal("auto"), ...Parallel }),
  any: Type.Object({ type: Type.Literal("any"), ...Parallel }),
  tool: Type.Object({ type: Type.Literal("tool"), name: FunctionName, ...Parallel }),
  none: Type.Object({ type: Type.Literal("none") }),
});

export const MessagesRequest = Type.Object({
  model: Type.String({ minLength: 1 }),
  // Required, as Anthropic's is.
  max_tokens: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  messages: Type.Array(MessageParam, { minItems: 1 }),
  system: Type.Optional(Type.Union([Type.String(), Type.Array(tagged({ text: TextBlock }))])),
  stop_sequences: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 16 })),
  // Anthropic's range, narrower than OpenAI's.
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  top_k: Type.Optional(Type.Integer({ minimum: 0 })),
  tools: Type.Optional(Type.Array(tagged({ custom: CustomTool }, "custom"), { maxItems: 128 })),
  tool_choice: Type.Optional(ToolChoice),
  stream: Type.Optional(Type.Boolean()),
  // user_id goes on the request's log lines, as chat's `user` does.
  metadata: Type.Optional(Type.Object({ user_id: Type.Optional(Type.Union([Type.String(), Type.Null()])) })),
  output_config: Type.Optional(
    Type.Object({
      format: Type.Optional(
        Type.Union([
          tagged({
            json_schema: Type.Object({
              type: Type.Literal("json_schema"),
              schema: Type.Record(Type.String(), Type.Unknown()),
            }),
          }),
          Type.Null(),
        ]),
      ),
      // Refused (messages/request.ts): this model has no reasoning phase.
      effort: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    }),
  ),
  cache_control: CacheControl,
});
export type MessagesRequest = Static<typeof MessagesRequest>;

export const MessageUsage = Type.Object({
  input_tokens: Type.Integer(),
  output_tokens: Type.Integer(),
  cache_creation_input_tokens: Type.Integer(),
  cache_read_input_tokens: Type.Integer(),
  cache_creation: Type.Null(),
  inference_geo: Type.Null(),
  output_tokens_details: Type.Null(),
  server_tool_use: Type.Null(),
  service_tier: Type.Literal("standard"),
  speed: Type.Null(),
});

/** A message as Anthropic answers it: the JSON body, and what message_start carries. */
export const MessageResponse = Type.Object({
  id: Type.String(),
  type: Type.Literal("message"),
  role: Type.Literal("assistant"),
  model: Type.String(),
  content: Type.Array(
    Type.Union([
      Type.Object({ type: Type.Literal("text"), text: Type.String(), citations: Type.Null() }),
      Type.Object({
        type: Type.Literal("tool_use"),
        id: Type.String(),
        name: Type.String(),
        input: Type.Unknown(),
        caller: Type.Object({ type: Type.Literal("direct") }),
      }),
    ]),
  ),
  stop_reason: Type.Union([Type.String(), Type.Null()]),
  stop_sequence: Type.Union([Type.String(), Type.Null()]),
  container: Type.Null(),
  stop_details: Type.Null(),
  diagnostics: Type.Null(),
  usage: MessageUsage,
});

export const MessagesError = Type.Object({
  type: Type.Literal("error"),
  error: Type.Object({ type: Type.String(), message: Type.String() }),
  request_id: Type.Union([Type.String(), Type.Null()]),
});

export const messagesErrors = {
  400: MessagesError,
  401: MessagesError,
  404: MessagesError,
  413: MessagesError,
  429: MessagesError,
  500: MessagesError,
  503: MessagesError,
};
