import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unsupportedMessages } from "../../../src/inference/messages/request.js";
import { MessagesRequest } from "../../../src/inference/messages/schemas.js";
import type { Server } from "../../../src/inference/server.js";
import { listen, startServer } from "../../helpers/inference.js";
import { anthropic } from "../../helpers/openai-contract.js";

// The Messages API through Anthropic's official client, unchanged, against the real server and the
// fixture model: its text is gibberish, so these check shapes, event order, counts, stop reasons and
// tool calls.
let server: Server;
let url: string;
let client: Anthropic;
beforeAll(async () => {
  // Room for the tool documentation a tool request adds to the prompt, and a second turn.
  server = await startServer({ apiKey: "sk-local", contextSize: 2048 });
  url = await listen(server);
  client = new Anthropic({ baseURL: url, apiKey: "sk-local", maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

// An enum keeps the input short whatever the fixture model samples, so every call finishes.
const tools: Anthropic.Tool[] = [
  {
    name: "lookup",
    description: "Looks a word up",
    input_schema: {
      type: "object",
      properties: { word: { type: "string", enum: ["spill", "way"] } },
      required: ["word"],
    },
  },
];

const hello = { model: "tiny-42", max_tokens: 6, messages: [{ role: "user" as const, content: "hello" }] };

describe("the Messages API with Anthropic's client", () => {
  it("creates a message: a text block, max_tokens as its stop reason, usage", async () => {
    const m = await client.messages.create({ ...hello, system: "be brief" });
    expect(anthropic.contractErrors("Message", m)).toEqual([]);
    expect(m.role).toBe("assistant");
    expect(m.content.map((b) => b.type)).toEqual(["text"]);
    expect(m.stop_reason).toBe("max_tokens");
    expect(m.usage.output_tokens).toBe(6);
    expect(m.usage.input_tokens).toBeGreaterThan(0);
  });

  it("streams Anthropic's event sequence; the final message is the deltas' text", async () => {
    const stream = client.messages.stream(hello);
    const events: Anthropic.RawMessageStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    for (const e of events) expect(anthropic.contractErrors("RawMessageStreamEvent", e)).toEqual([]);
    const kinds = events.map((e) => e.type);
    expect(kinds.slice(0, 2)).toEqual(["message_start", "content_block_start"]);
    expect(kinds.slice(2, -3).every((k) => k === "content_block_delta")).toBe(true);
    expect(kinds.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    const text = events
      .flatMap((e) =>
        e.type === "content_block_delta" && e.delta.type === "text_delta" ? [e.delta.text] : [],
      )
      .join("");
    const final = await stream.finalMessage();
    expect(final.content).toEqual([{ type: "text", text, citations: null }]);
    expect(final.stop_reason).toBe("max_tokens");
    expect(final.usage.output_tokens).toBe(6);
  });

  it("sends the ping the client skips, with x-api-key and anthropic-version as the API takes them", async () => {
    const res = await fetch(`${url}/v1/messages`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-api-key": "sk-local",
        "anthropic-version": "2023-06-01",
      },
      body: JSON.stringify({ ...hello, stream: true }),
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const names = (await res.text())
      .split("\n")
      .flatMap((l) => (l.startsWith("event: ") ? [l.slice(7)] : []));
    expect(names.slice(0, 3)).toEqual(["message_start", "ping", "content_block_start"]);
  });

  it("stops at a stop sequence and names it", async () => {
    // At temperature 0 the fixture model's answer is fixed, and it holds one of these soon. (This SDK's
    // types no longer list temperature; the API and this server take it, and the client sends it as is.)
    const stops = [" ", "e", "o", "a"];
    const m = await client.messages.create({
      ...hello,
      max_tokens: 30,
      stop_sequences: stops,
      temperature: 0,
    } as Anthropic.MessageCreateParamsNonStreaming);
    expect(m.stop_reason).toBe("stop_sequence");
    expect(stops).toContain(m.stop_sequence);
  });

  it("calls a tool, then answers its result: a tool_use → tool_result round trip", async () => {
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "look up spill" }];
    const first = await client.messages.create({
      model: "tiny-42",
      max_tokens: 200,
      messages,
      tools,
      tool_choice: { type: "tool", name: "lookup" },
    });
    expect(anthropic.contractErrors("Message", first)).toEqual([]);
    expect(first.stop_reason).toBe("tool_use");
    const call = first.content.find((b) => b.type === "tool_use");
    if (call?.type !== "tool_use") throw new Error("expected a tool_use block");
    expect(call.name).toBe("lookup");
    expect(["spill", "way"]).toContain((call.input as { word: unknown }).word);

    const second = await client.messages.create({
      model: "tiny-42",
      max_tokens: 6,
      tools,
      messages: [
        ...messages,
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "a word" }] },
      ],
    });
    expect(second.stop_reason).toBe("max_tokens");
    expect(second.usage.input_tokens).toBeGreaterThan(first.usage.input_tokens);
  });

  it("streams a tool call: its input in JSON deltas, parsed by the client into the final message", async () => {
    const stream = client.messages.stream({
      model: "tiny-42",
      max_tokens: 200,
      messages: [{ role: "user", content: "look up spill" }],
      tools,
      tool_choice: { type: "any", disable_parallel_tool_use: true },
    });
    const events: Anthropic.RawMessageStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    for (const e of events) expect(anthropic.contractErrors("RawMessageStreamEvent", e)).toEqual([]);
    const json = events
      .flatMap((e) =>
        e.type === "content_block_delta" && e.delta.type === "input_json_delta" ? [e.delta.partial_json] : [],
      )
      .join("");
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    const [block] = final.content;
    expect(block?.type === "tool_use" && block.input).toEqual(JSON.parse(json));
  });

  it.each([
    ["missing max_tokens", { max_tokens: undefined }, "max_tokens"],
    [
      "an unknown block type",
      { messages: [{ role: "user", content: [{ type: "image", source: {} }] }] },
      "messages[0].content[0].type",
    ],
    [
      "a result for a call never made",
      {
        messages: [
          { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_x", content: "x" }] },
        ],
      },
      "messages[0].content[0].tool_use_id",
    ],
    ["thinking", { thinking: { type: "enabled", budget_tokens: 1024 } }, "thinking"],
  ])(
    "refuses %s as the client's BadRequestError, in Anthropic's shape, naming the field",
    async (_what, extra, field) => {
      const err = await client.messages
        .create({ ...hello, ...extra } as Anthropic.MessageCreateParamsNonStreaming)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      const body = (err as InstanceType<typeof Anthropic.BadRequestError>).error;
      expect(anthropic.contractErrors("ErrorResponse", body)).toEqual([]);
      expect(body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
      expect((body as { error: { message: string } }).error.message).toContain(`'${field}'`);
    },
  );

  it("refuses a wrong key and an unknown model as the client's typed errors", async () => {
    const wrong = new Anthropic({ baseURL: url, apiKey: "sk-wrong", maxRetries: 0 });
    await expect(wrong.messages.create(hello)).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(client.messages.create({ ...hello, model: "claude-nothing" })).rejects.toBeInstanceOf(
      Anthropic.NotFoundError,
    );
  });

  it("serves or refuses by name every body parameter of MessageCreateParamsBase", () => {
    // The SDK sends these as headers: one workspace and no user profiles here, nothing to select.
    const headers = new Set(["user_profile_id", "workspace_id"]);
    const served = MessagesRequest.properties;
    const neither = anthropic
      .requestParameters("MessageCreateParamsBase")
      .filter((p) => !headers.has(p) && !(p in served) && !(p in unsupportedMessages));
    expect(neither).toEqual([]);
    expect(Object.keys(unsupportedMessages).filter((p) => p in served)).toEqual([]);
  });
});
