import { describe, expect, it } from "vitest";
import type { GenerationResult } from "../../../src/inference/engine.js";
import { ApiError, errors } from "../../../src/inference/errors.js";
import { messagesEncoder, stopReason } from "../../../src/inference/messages/encoder.js";
import { messagesErrorBody } from "../../../src/inference/messages/errors.js";
import { chatRequest } from "../../../src/inference/messages/request.js";
import type { MessagesRequest } from "../../../src/inference/messages/schemas.js";
import type { SseEvent } from "../../../src/inference/routes/encoder.js";

// Anthropic's Messages API's two pure halves: a request as the chat request it asks for, and a
// generation as the message and events it answers with.

const request = (extra: Partial<MessagesRequest> = {}): MessagesRequest => ({
  model: "m",
  max_tokens: 16,
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

function thrown(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("nothing thrown");
}

const weather = { name: "get", input_schema: { type: "object" as const } };

describe("a Messages request as a chat request", () => {
  it("puts the system prompt first, its blocks as paragraphs", () => {
    const chat = chatRequest(
      request({
        system: [
          { type: "text", text: "You are terse." },
          { type: "text", text: "Answer in French.", cache_control: { type: "ephemeral" } },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      { role: "system", content: "You are terse.\n\nAnswer in French." },
      { role: "user", content: "hi" },
    ]);
  });

  it("maps the limits, sampling, stops, tools and structured output field by field", () => {
    const chat = chatRequest(
      request({
        stop_sequences: ["\n\n"],
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        tools: [{ ...weather, description: "weather" }],
        tool_choice: { type: "tool", name: "get", disable_parallel_tool_use: true },
        output_config: { format: { type: "json_schema", schema: { type: "object" } } },
        metadata: { user_id: "u1" },
        stream: true,
      }),
    );
    expect(chat).toMatchObject({
      max_tokens: 16,
      stop: ["\n\n"],
      temperature: 0.2,
      top_p: 0.9,
      top_k: 40,
      tools: [
        {
          type: "function",
          function: { name: "get", description: "weather", parameters: { type: "object" } },
        },
      ],
      tool_choice: { type: "function", function: { name: "get" } },
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { schema: { type: "object" } } },
      user: "u1",
      stream: true,
    });
  });

  it.each([
    [{ type: "auto" }, { tool_choice: "auto" }],
    [{ type: "any" }, { tool_choice: "required" }],
    [{ type: "none" }, { tool_choice: "none" }],
  ] as const)("tool_choice %j is chat's %j", (choice, chat) => {
    const r = chatRequest(request({ tools: [weather], tool_choice: choice }));
    expect({ tool_choice: r.tool_choice }).toEqual(chat);
    expect(r.parallel_tool_calls).toBeUndefined();
  });

  it("a tool_use becomes the assistant's call, its tool_result the tool message that answers it", () => {
    const chat = chatRequest(
      request({
        tools: [weather],
        messages: [
          { role: "user", content: "weather in Paris?" },
          {
            role: "assistant",
            content: [
              { type: "text", text: "Checking." },
              { type: "tool_use", id: "toolu_1", name: "get", input: { city: "Paris" } },
            ],
          },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "sunny" }] },
              { type: "text", text: "and tomorrow?" },
            ],
          },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      { role: "user", content: "weather in Paris?" },
      {
        role: "assistant",
        content: "Checking.",
        tool_calls: [
          { id: "toolu_1", type: "function", function: { name: "get", arguments: '{"city":"Paris"}' } },
        ],
      },
      { role: "tool", tool_call_id: "toolu_1", content: "sunny" },
      { role: "user", content: "and tomorrow?" },
    ]);
  });

  it("a failed tool's result says so", () => {
    const chat = chatRequest(
      request({
        messages: [
          { role: "user", content: "x" },
          { role: "assistant", content: [{ type: "tool_use", id: "t", name: "get", input: {} }] },
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: "t", content: "timed out", is_error: true }],
          },
        ],
      }),
    );
    expect(chat.messages[2]).toEqual({ role: "tool", tool_call_id: "t", content: "Error: timed out" });
    expect(chat.messages[1]).toMatchObject({ content: null });
  });

  const toolUse = { type: "tool_use" as const, id: "t", name: "get", input: {} };
  it.each([
    [
      "a result for a call never made",
      [{ role: "user", content: [{ type: "tool_result", tool_use_id: "nope" }] }],
      "messages[0].content[0].tool_use_id",
    ],
    ["a tool_use in a user message", [{ role: "user", content: [toolUse] }], "messages[0].content[0].type"],
    [
      "a tool_result in an assistant message",
      [
        { role: "user", content: "x" },
        { role: "assistant", content: [{ type: "tool_result", tool_use_id: "t" }] },
        { role: "user", content: "y" },
      ],
      "messages[1].content[0].type",
    ],
    [
      "a tool_use id used twice",
      [
        { role: "user", content: "x" },
        { role: "assistant", content: [toolUse, toolUse] },
        { role: "user", content: "y" },
      ],
      "messages[1].content[1].id",
    ],
    [
      "a final assistant message (a prefill)",
      [
        { role: "user", content: "x" },
        { role: "assistant", content: "The" },
      ],
      "messages[1]",
    ],
  ] as const)("refuses %s, naming the field", (_what, messages, param) => {
    const err = thrown(() =>
      chatRequest(request({ messages: messages as unknown as MessagesRequest["messages"] })),
    );
    expect([err.statusCode, err.param]).toEqual([400, param]);
  });

  it("refuses a tool_choice naming no tool", () => {
    const err = thrown(() =>
      chatRequest(request({ tools: [weather], tool_choice: { type: "tool", name: "other" } })),
    );
    expect(err.param).toBe("tool_choice.name");
  });

  it.each([
    [{ thinking: { type: "enabled", budget_tokens: 1024 } }, "thinking"],
    [{ container: "c" }, "container"],
    [{ mcp_servers: [{}] }, "mcp_servers"],
    [{ speed: "fast" }, "speed"],
    [{ output_config: { effort: "high" } }, "output_config.effort"],
    [{ system: [{ type: "text", text: "x", citations: [{}] }] }, "system[0].citations"],
    [{ tools: [{ ...weather, defer_loading: true }] }, "tools[0].defer_loading"],
    [{ tools: [{ ...weather, allowed_callers: ["code_execution_20250825"] }] }, "tools[0].allowed_callers"],
    [
      { messages: [{ role: "user", content: [{ type: "text", text: "x", citations: [{}] }] }] },
      "messages[0].content[0].citations",
    ],
  ])("refuses %j by name", (extra, param) => {
    const err = thrown(() => chatRequest(request(extra as Partial<MessagesRequest>)));
    expect([err.statusCode, err.param]).toEqual([400, param]);
  });

  it("accepts what asks for nothing: disabled thinking, the standard tier and speed, cache_control", () => {
    const body = {
      ...request(),
      thinking: { type: "disabled" },
      service_tier: "standard_only",
      speed: "standard",
      cache_control: { type: "ephemeral" },
    };
    expect(() => chatRequest(body as MessagesRequest)).not.toThrow();
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

describe("a generation as an Anthropic message", () => {
  it.each([
    [{ finishReason: "stop" }, "end_turn"],
    [{ finishReason: "stop", stopSequence: "\n" }, "stop_sequence"],
    [{ finishReason: "length" }, "max_tokens"],
    [{ finishReason: "tool_calls" }, "tool_use"],
  ] as const)("%j stops for %s", (r, reason) => {
    expect(stopReason(result(r))).toBe(reason);
  });

  it("streams Anthropic's event sequence: text, then a tool_use with its input in JSON deltas", () => {
    const encoder = messagesEncoder("m", "req-1");
    const events: SseEvent[] = [...encoder.open(3), ...encoder.start(0)];
    events.push(...encoder.text(0, "He"), ...encoder.text(0, "llo"));
    events.push(
      ...encoder.toolCall(0, "get"),
      ...encoder.toolArguments(0, '{"c'),
      ...encoder.toolArguments(0, '":1}'),
    );
    const r = result({
      text: "Hello",
      toolCalls: [{ name: "get", arguments: '{"c":1}' }],
      finishReason: "tool_calls",
    });
    events.push(...encoder.end(0, r), ...encoder.close({ promptTokens: 3, completionTokens: 4 }));
    const all = events as { event: string; data: Record<string, any> }[];
    expect(all.map((e) => [e.event, e.data.index, e.data.delta?.type ?? e.data.content_block?.type])).toEqual(
      [
        ["message_start", undefined, undefined],
        ["ping", undefined, undefined],
        ["content_block_start", 0, "text"],
        ["content_block_delta", 0, "text_delta"],
        ["content_block_delta", 0, "text_delta"],
        ["content_block_stop", 0, undefined],
        ["content_block_start", 1, "tool_use"],
        ["content_block_delta", 1, "input_json_delta"],
        ["content_block_delta", 1, "input_json_delta"],
        ["content_block_stop", 1, undefined],
        ["message_delta", undefined, undefined],
        ["message_stop", undefined, undefined],
      ],
    );
    expect(all.every((e) => e.data.type === e.event)).toBe(true);
    expect(all[0]?.data.message).toMatchObject({
      content: [],
      stop_reason: null,
      usage: { input_tokens: 3, output_tokens: 0 },
    });
    expect(all[6]?.data.content_block).toMatchObject({
      name: "get",
      input: {},
      id: expect.stringMatching(/^toolu_/) as unknown,
    });
    expect(all[10]?.data).toMatchObject({
      delta: { stop_reason: "tool_use", stop_sequence: null },
      usage: { output_tokens: 4 },
    });
  });

  it("answers a body with a text block, then each call's tool_use, the same ids as streamed", () => {
    const encoder = messagesEncoder("m", null);
    const [start] = encoder.toolCall(0, "get") as { data: { content_block: { id: string } } }[];
    encoder.end(
      0,
      result({ text: "Hi", toolCalls: [{ name: "get", arguments: '{"c":1}' }], finishReason: "tool_calls" }),
    );
    const body = encoder.body({ promptTokens: 3, completionTokens: 4 }) as {
      content: unknown[];
      usage: unknown;
    };
    expect(body.content).toEqual([
      { type: "text", text: "Hi", citations: null },
      {
        type: "tool_use",
        id: start?.data.content_block.id,
        name: "get",
        input: { c: 1 },
        caller: { type: "direct" },
      },
    ]);
    expect(body.usage).toMatchObject({ input_tokens: 3, output_tokens: 4 });
  });

  it("leaves out a call max_tokens cut short (its input is not JSON yet)", () => {
    const encoder = messagesEncoder("m", null);
    encoder.toolCall(0, "get");
    encoder.end(0, result({ toolCalls: [{ name: "get", arguments: '{"c":' }], finishReason: "length" }));
    const body = encoder.body({ promptTokens: 3, completionTokens: 4 }) as {
      content: unknown[];
      stop_reason: string;
    };
    expect([body.content, body.stop_reason]).toEqual([[], "max_tokens"]);
  });

  it("names the stop sequence that ended it", () => {
    const encoder = messagesEncoder("m", null);
    encoder.end(0, result({ text: "a", stopSequence: "###" }));
    expect(encoder.body({ promptTokens: 1, completionTokens: 1 })).toMatchObject({
      stop_reason: "stop_sequence",
      stop_sequence: "###",
    });
  });

  it("ends a failed stream with Anthropic's error event", () => {
    const [e] = messagesEncoder("m", "req-7").fail(errors.timeout(5));
    expect(e).toEqual({
      event: "error",
      data: {
        type: "error",
        error: { type: "timeout_error", message: "The request did not complete within 5s" },
        request_id: "req-7",
      },
    });
  });

  it.each([
    [errors.invalidRequest("x"), "invalid_request_error"],
    [errors.unauthorized("x"), "authentication_error"],
    [errors.modelNotFound("x"), "not_found_error"],
    [errors.queueFull(1), "rate_limit_error"],
    [errors.notReady("x"), "overloaded_error"],
    [new ApiError(500, "server_error", null, "x"), "api_error"],
  ])("an error with status %#: Anthropic's type %s", (err, type) => {
    expect(messagesErrorBody(err, null).error.type).toBe(type);
  });
});
