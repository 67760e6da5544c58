import { describe, expect, it } from "vitest";
import type { GenerationResult } from "../../../src/inference/engine.js";
import { ApiError, errors, renamed } from "../../../src/inference/errors.js";
import type { Encoder, SseEvent } from "../../../src/inference/routes/encoder.js";
import { responsesEncoder } from "../../../src/inference/responses/encoder.js";
import { chatRequest, responsesNames } from "../../../src/inference/responses/request.js";
import type { ResponsesRequest } from "../../../src/inference/responses/schemas.js";

// The Responses API's two pure halves: a request as the chat request it asks for, and a generation as
// the response and events it answers with.

const request = (extra: Partial<ResponsesRequest> = {}): ResponsesRequest => ({
  model: "m",
  input: "hi",
  ...extra,
});

/** The ApiError `fn` throws. */
function thrown(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("nothing thrown");
}

describe("a Responses request as a chat request", () => {
  it("puts instructions first and a string input as the user's message", () => {
    expect(chatRequest(request({ instructions: "be brief" })).messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "hi" },
    ]);
  });

  it("maps the limits, sampling, tools and structured output field by field", () => {
    const chat = chatRequest(
      request({
        max_output_tokens: 7,
        temperature: 0.5,
        top_p: 0.9,
        tools: [{ type: "function", name: "f", description: null, parameters: { type: "object" } }],
        tool_choice: { type: "function", name: "f" },
        parallel_tool_calls: false,
        text: { format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true } },
        stream: true,
        user: "u1",
      }),
    );
    expect(chat).toMatchObject({
      max_completion_tokens: 7,
      temperature: 0.5,
      top_p: 0.9,
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      tool_choice: { type: "function", function: { name: "f" } },
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "out", schema: { type: "object" } } },
      stream: true,
      user: "u1",
    });
    expect(chat.tools?.[0]?.function.description).toBeUndefined();
  });

  it("joins function calls to the assistant turn before them, and their outputs become tool messages", () => {
    const chat = chatRequest(
      request({
        input: [
          { role: "user", content: [{ type: "input_text", text: "weather?" }] },
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "Looking." }] },
          { type: "function_call", call_id: "c1", name: "get", arguments: '{"city":"Paris"}' },
          { type: "function_call", call_id: "c2", name: "get", arguments: '{"city":"Rome"}' },
          { type: "function_call_output", call_id: "c1", output: "sunny" },
          { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "rain" }] },
          { type: "function_call", call_id: "c3", name: "get", arguments: "{}" },
        ],
      }),
    );
    const call = (id: string, args: string) => ({
      id,
      type: "function",
      function: { name: "get", arguments: args },
    });
    expect(chat.messages).toEqual([
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "Looking.",
        tool_calls: [call("c1", '{"city":"Paris"}'), call("c2", '{"city":"Rome"}')],
      },
      { role: "tool", tool_call_id: "c1", content: "sunny" },
      { role: "tool", tool_call_id: "c2", content: "rain" },
      { role: "assistant", content: null, tool_calls: [call("c3", "{}")] },
    ]);
  });

  it.each([
    [
      "an output for a call never made",
      [{ type: "function_call_output", call_id: "nope", output: "x" }],
      "input[0].call_id",
    ],
    [
      "a call id used twice",
      [
        { type: "function_call", call_id: "c", name: "f", arguments: "{}" },
        { type: "function_call", call_id: "c", name: "f", arguments: "{}" },
      ],
      "input[1].call_id",
    ],
    [
      "arguments that are not JSON",
      [{ type: "function_call", call_id: "c", name: "f", arguments: "{" }],
      "input[0].arguments",
    ],
    [
      "an answer's text in a user message",
      [{ role: "user", content: [{ type: "output_text", text: "x" }] }],
      "input[0].content[0].type",
    ],
  ] as const)("refuses %s, naming the field", (_what, input, param) => {
    const err = thrown(() => chatRequest(request({ input: input as unknown as ResponsesRequest["input"] })));
    expect([err.statusCode, err.param]).toEqual([400, param]);
  });

  it.each([
    ["previous_response_id", "resp_1", "unsupported_parameter"],
    ["conversation", "conv_1", "unsupported_parameter"],
    ["store", true, "unsupported_value"],
    ["background", true, "unsupported_value"],
    ["include", ["message.output_text.logprobs"], "unsupported_value"],
    ["truncation", "auto", "unsupported_value"],
    ["reasoning", { effort: "high" }, "unsupported_value"],
  ])("refuses %s by name", (param, value, code) => {
    const err = thrown(() => chatRequest({ ...request(), [param]: value }));
    expect([err.statusCode, err.param, err.code]).toEqual([400, param, code]);
  });

  it("accepts what asks for nothing: store false, no includes, no truncation, an empty reasoning", () => {
    const body = {
      ...request(),
      store: false,
      include: [],
      truncation: "disabled",
      reasoning: { effort: null },
    };
    expect(() => chatRequest(body as ResponsesRequest)).not.toThrow();
  });

  it.each([
    [{ text: { verbosity: "low" } }, "text.verbosity"],
    [
      { text: { format: { type: "json_schema", name: "x", schema: {}, description: "d" } } },
      "text.format.description",
    ],
    [{ tools: [{ type: "function", name: "f", defer_loading: true }] }, "tools[0].defer_loading"],
    [{ stream_options: { include_obfuscation: false } }, "stream_options"],
  ])("refuses a nested parameter by its name: %j", (extra, param) => {
    const err = thrown(() => chatRequest(request(extra as Partial<ResponsesRequest>)));
    expect(err.param).toBe(param);
  });

  it("renames what the chat path reports in its own terms", () => {
    const err = renamed(
      errors.invalidRequest(
        "tools[2].function.parameters is not supported: x",
        "tools[2].function.parameters",
      ),
      responsesNames,
    ) as ApiError;
    expect([err.param, err.message]).toEqual([
      "tools[2].parameters",
      "tools[2].parameters is not supported: x",
    ]);
    const format = renamed(
      errors.invalidRequest("response_format.json_schema.schema is not supported", "response_format"),
      responsesNames,
    ) as ApiError;
    expect([format.param, format.message]).toEqual(["text.format", "text.format.schema is not supported"]);
    const long = renamed(errors.contextLengthExceeded(500, 100, 512, "messages"), responsesNames) as ApiError;
    expect(long.param).toBe("input");
    expect(long.message).toMatch(/reduce the prompt or max_output_tokens\.$/);
  });
});

const result = (r: Partial<GenerationResult>): GenerationResult => ({
  text: "",
  toolCalls: [],
  finishReason: "stop",
  promptTokens: 3,
  completionTokens: 4,
  ...r,
});

/** Drives an encoder as run() does for a stream: open, the text and calls, end, close. */
function stream(
  encoder: Encoder,
  text: string[],
  calls: { name: string; arguments: string }[],
  r: GenerationResult,
) {
  const events: SseEvent[] = [...encoder.open(3), ...encoder.start(0)];
  for (const t of text) events.push(...encoder.text(0, t));
  for (const c of calls)
    events.push(...encoder.toolCall(0, c.name), ...encoder.toolArguments(0, c.arguments));
  events.push(...encoder.end(0, r), ...encoder.close({ promptTokens: 3, completionTokens: 4 }));
  return events as { event: string; data: Record<string, any> }[];
}

describe("a generation as a Responses response", () => {
  it("streams text in OpenAI's documented order, each event numbered", () => {
    const events = stream(responsesEncoder(request(), "m"), ["He", "llo"], [], result({ text: "Hello" }));
    expect(events.map((e) => e.event)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((e) => e.data.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.every((e) => e.data.type === e.event)).toBe(true);
    expect(events[6]?.data.text).toBe("Hello");
    const done = events.at(-1)?.data.response;
    expect(done).toMatchObject({
      status: "completed",
      output: [{ type: "message", status: "completed", content: [{ type: "output_text", text: "Hello" }] }],
      usage: { input_tokens: 3, output_tokens: 4, total_tokens: 7 },
    });
    expect(events[0]?.data.response).toMatchObject({ status: "in_progress", output: [] });
    expect(events[0]?.data.response.usage).toBeUndefined();
  });

  it("streams text, then each call as its own item with its arguments in deltas", () => {
    const calls = [
      { name: "a", arguments: "{}" },
      { name: "b", arguments: '{"x":1}' },
    ];
    const r = result({ text: "Hi", toolCalls: calls, finishReason: "tool_calls" });
    const events = stream(responsesEncoder(request(), "m"), ["Hi"], calls, r);
    expect(events.slice(2).map((e) => [e.event, e.data.output_index])).toEqual([
      ["response.output_item.added", 0],
      ["response.content_part.added", 0],
      ["response.output_text.delta", 0],
      ["response.output_text.done", 0],
      ["response.content_part.done", 0],
      ["response.output_item.done", 0],
      ["response.output_item.added", 1],
      ["response.function_call_arguments.delta", 1],
      ["response.function_call_arguments.done", 1],
      ["response.output_item.done", 1],
      ["response.output_item.added", 2],
      ["response.function_call_arguments.delta", 2],
      ["response.function_call_arguments.done", 2],
      ["response.output_item.done", 2],
      ["response.completed", undefined],
    ]);
    const output = events.at(-1)?.data.response.output;
    expect(
      output.map((i: { type: string; name?: string; arguments?: string }) => [i.type, i.name, i.arguments]),
    ).toEqual([
      ["message", undefined, undefined],
      ["function_call", "a", "{}"],
      ["function_call", "b", '{"x":1}'],
    ]);
    // A call's id is its item's; call_id is what a function_call_output answers.
    expect(output[1].id).toMatch(/^fc_/);
    expect(output[1].call_id).toMatch(/^call_/);
    expect(events[8]?.data.item.call_id).toBe(output[1].call_id);
  });

  it("answers a body with the message before the calls, as a stream orders them", () => {
    const encoder = responsesEncoder(request(), "m");
    const calls = [{ name: "a", arguments: "{}" }];
    encoder.toolCall(0, "a");
    encoder.end(0, result({ text: "Hi", toolCalls: calls, finishReason: "tool_calls" }));
    const body = encoder.body({ promptTokens: 3, completionTokens: 4 }) as {
      output: { type: string; status: string }[];
    };
    expect(body.output.map((i) => [i.type, i.status])).toEqual([
      ["message", "completed"],
      ["function_call", "completed"],
    ]);
  });

  it("is incomplete when max_output_tokens cut it, and ends with response.incomplete", () => {
    const encoder = responsesEncoder(request({ max_output_tokens: 4 }), "m");
    const events = stream(encoder, ["abc"], [], result({ text: "abc", finishReason: "length" }));
    expect(events.at(-1)?.event).toBe("response.incomplete");
    expect(events.at(-1)?.data.response).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      max_output_tokens: 4,
      output: [{ type: "message", status: "incomplete" }],
    });
  });

  it("still has an (empty) message when the answer is empty", () => {
    const events = stream(responsesEncoder(request(), "m"), [], [], result({}));
    expect(events.slice(2).map((e) => e.event)).toEqual([
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
  });

  it("ends a failed stream with response.failed", () => {
    const encoder = responsesEncoder(request(), "m");
    encoder.open(3);
    const [failed] = encoder.fail(errors.timeout(5)) as { event: string; data: any }[];
    expect(failed?.event).toBe("response.failed");
    expect(failed?.data.response).toMatchObject({
      status: "failed",
      error: { code: "server_error", message: "The request did not complete within 5s" },
    });
  });
});
