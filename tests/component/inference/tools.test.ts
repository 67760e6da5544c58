import OpenAI from "openai";
import type { ChatCompletionTool } from "openai/resources/chat/completions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { listen, startServer } from "../../helpers/inference.js";

// Tool calling through the official openai client. The fixture model's weights are random, so it never
// chooses to call a tool by itself: these tests force calls with tool_choice and check what a client
// relies on: the call's shape, arguments that match the function's schema, the finish reason, streaming,
// and a conversation that carries the call and its result back.
let server: Server;
let client: OpenAI;
beforeAll(async () => {
  // The tools' documentation makes prompts of about 800 tokens with this model's tokenizer.
  server = await startServer({ contextSize: 1024, parallel: 2 });
  client = new OpenAI({ baseURL: `${await listen(server)}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

const weather: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string" },
        unit: { enum: ["celsius", "fahrenheit"] },
        days: { type: "integer" },
      },
      required: ["city", "unit", "days"],
      additionalProperties: false,
    },
  },
};
const time: ChatCompletionTool = {
  type: "function",
  function: { name: "get_time", description: "The time now" },
};
const messages = [{ role: "user" as const, content: "What is the weather in Paris?" }];

function expectWeatherArguments(text: string) {
  const args = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(args).sort()).toEqual(["city", "days", "unit"]);
  expect(typeof args.city).toBe("string");
  expect(["celsius", "fahrenheit"]).toContain(args.unit);
  expect(Number.isInteger(args.days)).toBe(true);
}

describe("tool calls", () => {
  it("calls the named function with arguments that match its schema", async () => {
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      tools: [weather, time],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed: 2,
      max_completion_tokens: 200,
    });
    const choice = r.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    const [call, ...more] = choice.message.tool_calls ?? [];
    expect(more).toEqual([]);
    expect(call?.type).toBe("function");
    expect(call?.id).toMatch(/^call_/);
    if (call?.type !== "function") throw new Error("not a function call");
    expect(call.function.name).toBe("get_weather");
    expectWeatherArguments(call.function.arguments);
    expect(r.usage?.completion_tokens).toBeGreaterThan(3);
  });

  it("with tool_choice required, calls one of the tools", async () => {
    const names = new Set<string>();
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({
        model: "tiny-42",
        messages,
        tools: [weather, time],
        tool_choice: "required",
        // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
        seed,
        max_completion_tokens: 200,
      });
      const call = r.choices[0]?.message.tool_calls?.[0];
      if (call?.type !== "function") throw new Error("no function call");
      names.add(call.function.name);
      if (call.function.name === "get_time") expect(JSON.parse(call.function.arguments)).toEqual({});
      else expectWeatherArguments(call.function.arguments);
      expect(r.choices[0]?.finish_reason).toBe("tool_calls");
    }
    for (const n of names) expect(["get_weather", "get_time"]).toContain(n);
  });

  it("streams a call: the id and name first, then the arguments in pieces", async () => {
    const stream = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      tools: [weather],
      tool_choice: "required",
      parallel_tool_calls: false,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed: 2,
      stream: true,
      max_completion_tokens: 200,
    });
    const deltas = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      for (const d of c?.delta.tool_calls ?? []) deltas.push(d);
      finish = c?.finish_reason ?? finish;
    }
    expect(finish).toBe("tool_calls");
    expect(deltas[0]).toMatchObject({ index: 0, type: "function", function: { name: "get_weather" } });
    expect(deltas[0]?.id).toMatch(/^call_/);
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.slice(1).every((d) => d.id === undefined && d.function?.name === undefined)).toBe(true);
    expectWeatherArguments(deltas.map((d) => d.function?.arguments ?? "").join(""));
  });

  it("the openai client's stream helper assembles the call", async () => {
    const runner = client.chat.completions.stream({
      model: "tiny-42",
      messages,
      tools: [weather],
      tool_choice: "required",
      parallel_tool_calls: false,
      seed: 2,
      max_completion_tokens: 200,
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    if (call?.type !== "function") throw new Error("no function call");
    expectWeatherArguments(call.function.arguments);
  });

  it("takes a call and its result back and answers in text", async () => {
    const first = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      tools: [weather],
      tool_choice: "required",
      // One whole call to answer: more might run out of tokens in the middle of one.
      parallel_tool_calls: false,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed: 2,
      max_completion_tokens: 200,
    });
    const assistant = first.choices[0]!.message;
    const call = assistant.tool_calls?.[0];
    if (!call) throw new Error("no call");
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages: [
        ...messages,
        assistant,
        { role: "tool", tool_call_id: call.id, content: JSON.stringify({ temperature: 21 }) },
      ],
      tools: [weather],
      tool_choice: "none",
      max_completion_tokens: 5,
    });
    expect(r.choices[0]?.finish_reason).toBe("length");
    expect(r.choices[0]?.message.tool_calls).toBeUndefined();
    // The call and its result are in the prompt: it is longer than the same conversation without them.
    const without = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      max_completion_tokens: 1,
    });
    expect(r.usage!.prompt_tokens).toBeGreaterThan(without.usage!.prompt_tokens + 10);
  });

  it("with tool_choice auto, a call the model starts is completed and returned", async () => {
    // A model with real weights writes the call prefix itself. This one never would, so a response format
    // whose only value contains the prefix of the fixture's chat wrapper (Llama 2: `||call: `) makes it.
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      tools: [weather],
      response_format: {
        type: "json_schema",
        json_schema: { name: "x", schema: { enum: ["||call: get_weather"] } },
      },
      // Pinned: unseeded, the arguments' free-text city could run past max_completion_tokens.
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed: 1,
      parallel_tool_calls: false,
      max_completion_tokens: 200,
    });
    const choice = r.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    // What the model wrote before the call stays the message's content.
    expect(choice.message.content).toBe('"');
    const call = choice.message.tool_calls?.[0];
    if (call?.type !== "function") throw new Error("no function call");
    expectWeatherArguments(call.function.arguments);
  });

  it("with tool_choice auto, text without a call is a plain answer", async () => {
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      tools: [weather],
      tool_choice: "auto",
      temperature: 0,
      max_completion_tokens: 8,
    });
    expect(r.choices[0]?.finish_reason).toBe("length");
    expect(r.choices[0]?.message.tool_calls).toBeUndefined();
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });

  it("documents the tools in the prompt", async () => {
    const plain = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      max_completion_tokens: 1,
    });
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages,
      tools: [weather],
      max_completion_tokens: 1,
    });
    expect(r.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens + 20);
    expect(["stop", "length", "tool_calls"]).toContain(r.choices[0]?.finish_reason);
  });

  it.each([
    ["a participant name", { messages: [{ role: "user", content: "hi", name: "ann" }] }, "messages[0].name"],
    [
      "the deprecated functions",
      { functions: [{ name: "get_time", parameters: { type: "object" } }] },
      "functions",
    ],
    [
      "a tool choice naming no tool",
      { tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } },
      "tool_choice",
    ],
    ["tool_choice without tools", { tool_choice: "required" }, "tool_choice"],
    ["a bad function name", { tools: [{ type: "function", function: { name: "has space" } }] }, "tools"],
    [
      "a parameters schema the prompt cannot document (an enum that is not a list)",
      {
        tools: [
          {
            type: "function",
            function: {
              name: "get_weather",
              parameters: { type: "object", properties: { city: { type: "string", enum: "Paris" } } },
            },
          },
        ],
      },
      "tools[0].function.parameters",
    ],
    [
      "a tool message answering no call",
      { messages: [...messages, { role: "tool", tool_call_id: "call_x", content: "1" }] },
      "messages[1].tool_call_id",
    ],
    [
      "arguments that are not JSON",
      {
        messages: [
          ...messages,
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{" } }],
          },
        ],
      },
      "messages[1].tool_calls[0].function.arguments",
    ],
  ])("refuses %s, naming the parameter", async (_what, extra, param) => {
    const err = await client.chat.completions
      .create({ model: "tiny-42", messages, max_completion_tokens: 1, ...extra } as never)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toContain(param);
  });
});

describe("parallel tool calls", () => {
  // With random weights, whether the model writes another call after one is a draw: the seeds below are
  // ones where it does (4) and where it ends its turn (1), at temperature 1 on the fixture model. A
  // function without parameters keeps each call a few tokens long.
  const ask = (seed: number, extra: Record<string, unknown> = {}) =>
    client.chat.completions.create({
      model: "tiny-42",
      messages: [{ role: "user", content: "What time is it in Paris and in Oslo?" }],
      tools: [time],
      tool_choice: "required",
      temperature: 1,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed,
      max_completion_tokens: 60,
      ...extra,
    });
  const functionCalls = (r: Awaited<ReturnType<typeof ask>>) =>
    (r.choices[0]?.message.tool_calls ?? []).map((c) => {
      if (c.type !== "function") throw new Error("not a function call");
      return c;
    });

  it("by default (parallel_tool_calls true), a response may hold several calls, each with its own id", async () => {
    const r = await ask(4);
    const calls = functionCalls(r);
    expect(calls.length).toBeGreaterThan(1);
    expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
    // Every call but one cut by max_completion_tokens is whole.
    const whole = r.choices[0]?.finish_reason === "length" ? calls.slice(0, -1) : calls;
    expect(whole.length).toBeGreaterThan(1);
    for (const c of whole) {
      expect(c.function.name).toBe("get_time");
      expect(JSON.parse(c.function.arguments)).toEqual({});
    }
  });

  it("ends with one call when the model ends its turn after it", async () => {
    const r = await ask(1);
    expect(functionCalls(r)).toHaveLength(1);
    expect(r.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("parallel_tool_calls false allows exactly one call", async () => {
    const r = await ask(4, { parallel_tool_calls: false });
    const calls = functionCalls(r);
    expect(calls).toHaveLength(1);
    expect(r.choices[0]?.finish_reason).toBe("tool_calls");
    expect(calls[0]?.function.name).toBe("get_time");
  });

  it("a named tool choice is exactly one call, as OpenAI's is", async () => {
    const r = await ask(4, { tool_choice: { type: "function", function: { name: "get_time" } } });
    expect(functionCalls(r).map((c) => c.function.name)).toEqual(["get_time"]);
    expect(r.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("streams each call under its own index, its id and name first", async () => {
    const stream = await client.chat.completions.create({
      model: "tiny-42",
      messages: [{ role: "user", content: "What time is it in Paris and in Oslo?" }],
      tools: [time],
      tool_choice: "required",
      temperature: 1,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed: 4,
      max_completion_tokens: 60,
      stream: true,
    });
    const byIndex = new Map<number, { id?: string; name?: string; arguments: string }>();
    for await (const chunk of stream) {
      for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
        const call = byIndex.get(d.index) ?? { arguments: "" };
        if (d.id) {
          expect(call.id).toBeUndefined();
          call.id = d.id;
          call.name = d.function?.name;
        }
        call.arguments += d.function?.arguments ?? "";
        byIndex.set(d.index, call);
      }
    }
    const plain = functionCalls(await ask(4));
    expect([...byIndex.keys()]).toEqual(plain.map((_, i) => i));
    expect([...byIndex.values()].map((c) => [c.name, c.arguments])).toEqual(
      plain.map((c) => [c.function.name, c.function.arguments]),
    );
    expect(new Set([...byIndex.values()].map((c) => c.id)).size).toBe(plain.length);
  });

  it("takes several calls and their results back", async () => {
    const first = await ask(4);
    const assistant = first.choices[0]!.message;
    const whole = (
      first.choices[0]?.finish_reason === "length" ? functionCalls(first).slice(0, -1) : functionCalls(first)
    ).slice(0, 2);
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages: [
        { role: "user", content: "What time is it in Paris and in Oslo?" },
        { ...assistant, tool_calls: whole },
        ...whole.map((c, i) => ({ role: "tool" as const, tool_call_id: c.id, content: `${10 + i}:00` })),
      ],
      tools: [time],
      tool_choice: "none",
      max_completion_tokens: 3,
    });
    expect(r.choices[0]?.finish_reason).toBe("length");
  });
});
