import { Type, type Static } from "@sinclair/typebox";
import { FunctionName, tagged } from "../schemas.js";

/**
 * OpenAI's Responses API, as far as it maps onto a chat completion: text and message input, function
 * tools and their calls and outputs, structured output. Input items and tools of other types are refused
 * by schema (an `enum` error naming the known types); parameters that would need stored state or features
 * this server lacks are refused by name (routes/unsupported.ts).
 */

const InputText = Type.Object({ type: Type.Literal("input_text"), text: Type.String() });

/** An earlier answer's text, as a client replays it; its annotations describe it and ask for nothing. */
const OutputText = Type.Object({
  type: Type.Literal("output_text"),
  text: Type.String(),
  annotations: Type.Optional(Type.Array(Type.Unknown())),
  logprobs: Type.Optional(Type.Array(Type.Unknown())),
});

/** A replayed item's id and status identify an earlier answer; they do not change this one. */
const Replayed = {
  id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  status: Type.Optional(Type.Union([Type.String(), Type.Null()])),
};

const MessageItem = Type.Object({
  type: Type.Optional(Type.Literal("message")),
  role: Type.Unsafe<"system" | "developer" | "user" | "assistant">({
    type: "string",
    enum: ["system", "developer", "user", "assistant"],
  }),
  content: Type.Union([
    Type.String(),
    Type.Array(tagged({ input_text: InputText, output_text: OutputText }), { minItems: 1 }),
  ]),
  ...Replayed,
});

const FunctionCallItem = Type.Object({
  type: Type.Literal("function_call"),
  call_id: Type.String({ minLength: 1 }),
  name: FunctionName,
  arguments: Type.String(),
  ...Replayed,
});

const FunctionCallOutputItem = Type.Object({
  type: Type.Literal("function_call_output"),
  call_id: Type.String({ minLength: 1 }),
  output: Type.Union([Type.String(), Type.Array(tagged({ input_text: InputText }))]),
  ...Replayed,
});

export const InputItem = tagged(
  { message: MessageItem, function_call: FunctionCallItem, function_call_output: FunctionCallOutputItem },
  "message",
);
export type InputItem = Static<typeof InputItem>;

const FunctionTool = Type.Object({
  type: Type.Literal("function"),
  name: FunctionName,
  description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  parameters: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  // Refused unless false (routes/unsupported.ts): every tool is in the prompt from the start.
  defer_loading: Type.Optional(Type.Boolean()),
});

const TextFormat = tagged({
  text: Type.Object({ type: Type.Literal("text") }),
  json_object: Type.Object({ type: Type.Literal("json_object") }),
  json_schema: Type.Object({
    type: Type.Literal("json_schema"),
    name: Type.String(),
    schema: Type.Record(Type.String(), Type.Unknown()),
    strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    description: Type.Optional(Type.String()),
  }),
});

export const ResponsesRequest = Type.Object({
  model: Type.String({ minLength: 1 }),
  input: Type.Union([Type.String(), Type.Array(InputItem, { minItems: 1 })]),
  instructions: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  max_output_tokens: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]),
  ),
  temperature: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()])),
  top_p: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()])),
  tools: Type.Optional(Type.Array(tagged({ function: FunctionTool }), { maxItems: 128 })),
  tool_choice: Type.Optional(
    Type.Union([
      Type.Unsafe<"none" | "auto" | "required">({ type: "string", enum: ["none", "auto", "required"] }),
      tagged({ function: Type.Object({ type: Type.Literal("function"), name: FunctionName }) }),
    ]),
  ),
  parallel_tool_calls: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  text: Type.Optional(
    Type.Object({
      format: Type.Optional(TextFormat),
      // Refused (routes/unsupported.ts), as chat's `verbosity` is.
      verbosity: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    }),
  ),
  stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  stream_options: Type.Optional(
    Type.Union([Type.Object({ include_obfuscation: Type.Optional(Type.Boolean()) }), Type.Null()]),
  ),
  // Ids for the request's log lines, as on chat.
  user: Type.Optional(Type.String()),
  safety_identifier: Type.Optional(Type.String()),
});
export type ResponsesRequest = Static<typeof ResponsesRequest>;

const OutputMessage = Type.Object({
  id: Type.String(),
  type: Type.Literal("message"),
  role: Type.Literal("assistant"),
  status: Type.String(),
  content: Type.Array(
    Type.Object({
      type: Type.Literal("output_text"),
      text: Type.String(),
      annotations: Type.Array(Type.Unknown()),
      logprobs: Type.Array(Type.Unknown()),
    }),
  ),
});

const OutputFunctionCall = Type.Object({
  id: Type.String(),
  type: Type.Literal("function_call"),
  status: Type.String(),
  call_id: Type.String(),
  name: Type.String(),
  arguments: Type.String(),
});

export const ResponseUsage = Type.Object({
  input_tokens: Type.Integer(),
  input_tokens_details: Type.Object({ cached_tokens: Type.Integer() }),
  output_tokens: Type.Integer(),
  output_tokens_details: Type.Object({ reasoning_tokens: Type.Integer() }),
  total_tokens: Type.Integer(),
});

/** The response object: the JSON body, and what response.created and the last event carry. */
export const ResponseObject = Type.Object({
  id: Type.String(),
  object: Type.Literal("response"),
  created_at: Type.Integer(),
  status: Type.String(),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  incomplete_details: Type.Union([Type.Object({ reason: Type.String() }), Type.Null()]),
  instructions: Type.Union([Type.String(), Type.Null()]),
  max_output_tokens: Type.Union([Type.Integer(), Type.Null()]),
  model: Type.String(),
  output: Type.Array(Type.Union([OutputMessage, OutputFunctionCall])),
  parallel_tool_calls: Type.Boolean(),
  previous_response_id: Type.Null(),
  reasoning: Type.Object({ effort: Type.Null(), summary: Type.Null() }),
  store: Type.Boolean(),
  temperature: Type.Number(),
  top_p: Type.Number(),
  text: Type.Object({ format: Type.Unknown() }),
  tool_choice: Type.Unknown(),
  tools: Type.Array(Type.Unknown()),
  truncation: Type.String(),
  usage: Type.Optional(ResponseUsage),
  user: Type.Optional(Type.String()),
  metadata: Type.Record(Type.String(), Type.String()),
});
