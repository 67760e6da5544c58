import { Llama3_1ChatWrapper, Llama2ChatWrapper, QwenChatWrapper } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { chatHistory, type ChatMessage } from "../../../src/inference/chat-history.js";
import { ApiError } from "../../../src/inference/errors.js";
import {
  callSyntax,
  callTriggers,
  nameGrammar,
  nextCallSyntax,
  optionalGrammar,
} from "../../../src/inference/tools.js";

const call = { id: "c1", name: "get_weather", arguments: '{"city":"Paris"}' };

describe("chatHistory", () => {
  it("joins each tool call with the tool message that answers it", () => {
    const messages: ChatMessage[] = [
      { role: "developer", content: "be brief" },
      { role: "user", content: "weather?" },
      { role: "assistant", content: null, toolCalls: [call] },
      { role: "tool", content: '{"temperature":21}', toolCallId: "c1" },
      { role: "assistant", content: "21 degrees" },
    ];
    expect(chatHistory(messages)).toEqual([
      { type: "system", text: "be brief" },
      { type: "user", text: "weather?" },
      {
        type: "model",
        response: [
          {
            type: "functionCall",
            name: "get_weather",
            params: { city: "Paris" },
            result: { temperature: 21 },
          },
        ],
      },
      { type: "model", response: ["21 degrees"] },
    ]);
  });

  it("takes a tool message that names its call's function (as LangChain sends it)", () => {
    const history = chatHistory([
      { role: "assistant", content: null, toolCalls: [call] },
      { role: "tool", content: "1", toolCallId: "c1", name: "get_weather" },
    ]);
    expect(history).toHaveLength(1);
  });

  it("keeps a result that is not JSON as text, and text before a call", () => {
    const history = chatHistory([
      { role: "user", content: "x" },
      { role: "assistant", content: "let me look", toolCalls: [call] },
      { role: "tool", content: "sunny", toolCallId: "c1" },
    ]);
    expect(history[1]).toEqual({
      type: "model",
      response: [
        "let me look",
        { type: "functionCall", name: "get_weather", params: { city: "Paris" }, result: "sunny" },
      ],
    });
  });

  it.each<[string, ChatMessage[], string]>([
    ["a tool message without an id", [{ role: "tool", content: "x" }], "messages[0].tool_call_id"],
    [
      "a tool message answering no call",
      [{ role: "tool", content: "x", toolCallId: "c9" }],
      "messages[0].tool_call_id",
    ],
    ["a user message without content", [{ role: "user", content: null }], "messages[0].content"],
    [
      "a tool message naming another function than its call's",
      [
        { role: "assistant", content: null, toolCalls: [call] },
        { role: "tool", content: "x", toolCallId: "c1", name: "get_time" },
      ],
      "messages[1].name",
    ],
    [
      "arguments that are not JSON",
      [{ role: "assistant", content: null, toolCalls: [{ ...call, arguments: "{" }] }],
      "messages[0].tool_calls[0].function.arguments",
    ],
  ])("refuses %s, naming it", (_what, messages, param) => {
    let err: unknown;
    try {
      chatHistory(messages);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).param).toBe(param);
  });
});

describe("call syntax", () => {
  it("fills the function name into the wrapper's syntax", () => {
    const s = callSyntax(new Llama3_1ChatWrapper(), "get_weather");
    const text = `${s.prefix.toString()}get_weather${s.paramsPrefix.toString()}{}${s.suffix.toString()}`;
    expect(text.startsWith("<function=get_weather>{}</function>")).toBe(true);
  });

  it("knows the prefix and its alternates as triggers", () => {
    expect(callTriggers(new Llama2ChatWrapper()).map(String)).toEqual(["||call: ", "||call:"]);
  });

  it("admits exactly the names", () => {
    expect(nameGrammar(["a", "b-c"])).toBe('root ::= "a" | "b-c"');
  });

  it("starts another call with the wrapper's separator and the call prefix", () => {
    // Llama 2 has no parallel-call section: its calls follow one another.
    expect(nextCallSyntax(new Llama2ChatWrapper()).toString()).toBe("||call: ");
    expect(nextCallSyntax(new QwenChatWrapper()).toString()).toBe('\n<tool_call>\n{"name": "');
  });

  it("admits nothing or exactly the next call's start", () => {
    expect(optionalGrammar("||call: ")).toBe('root ::= ("||call: ")?');
  });
});
