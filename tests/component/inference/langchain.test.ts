import { AIMessage, HumanMessage, ToolMessage, type BaseMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { ChatOpenAI } from "@langchain/openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { listen, startServer } from "../../helpers/inference.js";

// LangChain's ChatOpenAI, as an agent uses it: its default model name, tools bound, a tool run and its
// result sent back. The fixture's random weights never call a tool unasked, so the first turn requires one.
let server: Server;
let baseURL: string;
beforeAll(async () => {
  server = await startServer({ contextSize: 1024, parallel: 2, servedModelNames: "*" });
  baseURL = `${await listen(server)}/v1`;
});
afterAll(async () => {
  await server.close();
});

const calls: { city: string }[] = [];
const getWeather = tool(
  (input: { city: string }) => {
    calls.push(input);
    return JSON.stringify({ city: input.city, temperature: 21 });
  },
  {
    name: "get_weather",
    description: "The weather in a city",
    schema: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    },
  },
);

describe("LangChain ChatOpenAI", () => {
  it("runs a tool-calling agent loop: call, tool result, answer", async () => {
    const model = new ChatOpenAI({
      apiKey: "unused",
      configuration: { baseURL },
      maxRetries: 0,
      maxTokens: 120,
      temperature: 0,
    });
    const messages: BaseMessage[] = [new HumanMessage("What is the weather in Paris?")];
    const first = await model.bindTools([getWeather], { tool_choice: "any" }).invoke(messages);
    expect(first).toBeInstanceOf(AIMessage);
    expect(first.tool_calls).toHaveLength(1);
    const call = first.tool_calls![0]!;
    expect(call.name).toBe("get_weather");
    expect(typeof call.args.city).toBe("string");
    expect(first.response_metadata.finish_reason).toBe("tool_calls");

    // A tool invoked with a tool call answers with a ToolMessage (the JSON-schema overload does not type it).
    const invoke = getWeather.invoke.bind(getWeather) as (c: typeof call) => Promise<ToolMessage>;
    const result = await invoke(call);
    expect(result).toBeInstanceOf(ToolMessage);
    expect(calls).toEqual([call.args]);
    messages.push(first, result);

    const answer = await model.bindTools([getWeather], { tool_choice: "none" }).invoke(messages);
    expect(answer.tool_calls ?? []).toEqual([]);
    expect(typeof answer.content).toBe("string");
    // The call and the tool's result are in the prompt (tool_choice none leaves the tools undocumented).
    const plain = await model.invoke(messages.slice(0, 1));
    expect(answer.usage_metadata!.input_tokens).toBeGreaterThan(plain.usage_metadata!.input_tokens + 10);
  });

  it("streams a tool call into tool_call_chunks", async () => {
    const model = new ChatOpenAI({
      apiKey: "unused",
      configuration: { baseURL },
      maxRetries: 0,
      maxTokens: 120,
    });
    let merged: AIMessage | undefined;
    const stream = await model.bindTools([getWeather], { tool_choice: "any" }).stream("Weather in Oslo?");
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      merged = merged ? (merged as never as { concat: (c: unknown) => AIMessage }).concat(chunk) : chunk;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(merged?.tool_calls?.[0]?.name).toBe("get_weather");
    expect(typeof merged?.tool_calls?.[0]?.args.city).toBe("string");
  });
});
