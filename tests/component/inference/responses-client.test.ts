import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unsupportedResponses } from "../../../src/inference/responses/request.js";
import { ResponsesRequest } from "../../../src/inference/responses/schemas.js";
import type { Server } from "../../../src/inference/server.js";
import { listen, startServer } from "../../helpers/inference.js";
import { contractErrors, requestParameters } from "../../helpers/openai-contract.js";

/**
 * The event's errors as a ResponseStreamEvent. The SDK types a response with `output_text`, which the
 * SDK computes for a response it is handed whole and the API never sends: it is filled in here.
 */
function eventErrors(e: OpenAI.Responses.ResponseStreamEvent): string[] {
  const typed = "response" in e ? { ...e, response: { ...e.response, output_text: "" } } : e;
  return contractErrors("ResponseStreamEvent", typed);
}

// The Responses API through the official `openai` client, unchanged, against the real server and the
// fixture model: its text is gibberish, so these check shapes, event order, counts and calls.
let server: Server;
let client: OpenAI;
beforeAll(async () => {
  // Room for the tool documentation a tool request adds to the prompt, and a second turn.
  server = await startServer({ apiKey: "sk-local", contextSize: 2048 });
  client = new OpenAI({ baseURL: `${await listen(server)}/v1`, apiKey: "sk-local", maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

const tools: OpenAI.Responses.FunctionTool[] = [
  {
    type: "function",
    name: "lookup",
    description: "Looks a word up",
    // An enum keeps the arguments short whatever the fixture model samples, so every call finishes.
    parameters: {
      type: "object",
      properties: { word: { type: "string", enum: ["spill", "way"] } },
      required: ["word"],
    },
    strict: true,
  },
];

describe("the Responses API with the openai client", () => {
  it("creates a response: a message, its text, usage, cut by max_output_tokens", async () => {
    const r = await client.responses.create({
      model: "tiny-42",
      instructions: "be brief",
      input: "hello",
      max_output_tokens: 6,
      temperature: 0,
    });
    expect(contractErrors("Response", r)).toEqual([]);
    expect(r.status).toBe("incomplete");
    expect(r.incomplete_details?.reason).toBe("max_output_tokens");
    expect(r.instructions).toBe("be brief");
    expect(r.output.map((i) => i.type)).toEqual(["message"]);
    expect(r.output_text.length).toBeGreaterThan(0);
    expect(r.usage?.output_tokens).toBe(6);
    expect(r.usage?.total_tokens).toBe((r.usage?.input_tokens ?? 0) + 6);
  });

  it("streams OpenAI's event sequence; the deltas add up to the done text and the final response", async () => {
    const stream = await client.responses.create({
      model: "tiny-42",
      input: [{ role: "user", content: [{ type: "input_text", text: "hello" }] }],
      max_output_tokens: 6,
      temperature: 0,
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    for (const e of events) expect(eventErrors(e)).toEqual([]);
    const kinds = events.map((e) => e.type);
    expect(kinds.slice(0, 4)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
    ]);
    expect(kinds.slice(4, -4).every((k) => k === "response.output_text.delta")).toBe(true);
    expect(kinds.slice(-4)).toEqual([
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.incomplete",
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.flatMap((e) => (e.type === "response.output_text.delta" ? [e.delta] : []));
    const done = events.find((e) => e.type === "response.output_text.done");
    expect(done?.type === "response.output_text.done" && done.text).toBe(deltas.join(""));
    const last = events.at(-1);
    expect(last?.type === "response.incomplete" && last.response.usage?.output_tokens).toBe(6);

    // The client's own accumulator checks the events against each other and builds the same answer.
    const helper = client.responses.stream({
      model: "tiny-42",
      input: "hello",
      max_output_tokens: 6,
      temperature: 0,
    });
    const [message] = (await helper.finalResponse()).output;
    expect(message?.type === "message" && message.content[0]).toMatchObject({ text: deltas.join("") });
  });

  it("calls a function when tool_choice forces it, then answers its output", async () => {
    const input: OpenAI.Responses.ResponseInputItem[] = [{ role: "user", content: "look up spill" }];
    const first = await client.responses.create({
      model: "tiny-42",
      input,
      tools,
      tool_choice: { type: "function", name: "lookup" },
      max_output_tokens: 200,
      temperature: 1,
    });
    expect(contractErrors("Response", first)).toEqual([]);
    expect(first.status).toBe("completed");
    const [call] = first.output;
    if (call?.type !== "function_call") throw new Error(`expected a function_call, got ${call?.type}`);
    expect(call.name).toBe("lookup");
    // The grammar holds the arguments to the tool's schema.
    expect(["spill", "way"]).toContain((JSON.parse(call.arguments) as { word: unknown }).word);

    const second = await client.responses.create({
      model: "tiny-42",
      input: [
        ...input,
        ...first.output,
        { type: "function_call_output", call_id: call.call_id, output: "a word" },
      ],
      tools,
      max_output_tokens: 6,
      temperature: 0,
    });
    expect(second.output.at(-1)?.type).toBe("message");
    expect(second.usage?.input_tokens).toBeGreaterThan(first.usage?.input_tokens ?? 0);
  });

  it("streams a forced call: its item, its arguments in deltas, then done with the whole", async () => {
    const stream = await client.responses.create({
      model: "tiny-42",
      input: "look up spill",
      tools,
      tool_choice: "required",
      // One call: several could run past max_output_tokens, and this model samples how many it writes.
      parallel_tool_calls: false,
      max_output_tokens: 200,
      temperature: 1,
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    for (const e of events) expect(eventErrors(e)).toEqual([]);
    expect(events[2]?.type).toBe("response.output_item.added");
    expect(events.slice(-3).map((e) => e.type)).toEqual([
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const deltas = new Map<string, string>();
    for (const e of events) {
      if (e.type === "response.function_call_arguments.delta")
        deltas.set(e.item_id, (deltas.get(e.item_id) ?? "") + e.delta);
    }
    const done = events.flatMap((e) => (e.type === "response.function_call_arguments.done" ? [e] : []));
    expect(done).toHaveLength(1);
    for (const d of done) {
      expect(d.arguments).toBe(deltas.get(d.item_id));
      expect(["spill", "way"]).toContain((JSON.parse(d.arguments) as { word: unknown }).word);
    }
    const last = events.at(-1);
    if (last?.type !== "response.completed") throw new Error("no response.completed");
    expect(last.response.output.map((i) => i.type)).toEqual(done.map(() => "function_call"));
  });

  it("answers text.format json_schema with JSON of that schema", async () => {
    const r = await client.responses.create({
      model: "tiny-42",
      input: "answer:",
      text: {
        format: {
          type: "json_schema",
          name: "answer",
          schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
        },
      },
      max_output_tokens: 40,
      temperature: 0,
    });
    expect(r.status).toBe("completed");
    expect(typeof (JSON.parse(r.output_text) as { ok: unknown }).ok).toBe("boolean");
  });

  it.each([
    ["previous_response_id", { previous_response_id: "resp_1" }, "previous_response_id"],
    ["an unknown input item type", { input: [{ type: "reasoning", summary: [] }] }, "input[0].type"],
    [
      "an output for a call never made",
      { input: [{ type: "function_call_output", call_id: "call_x", output: "x" }] },
      "input[0].call_id",
    ],
    ["a hosted tool", { tools: [{ type: "web_search" }] }, "tools[0].type"],
  ])("refuses %s as the client's BadRequestError, naming the field", async (_what, extra, param) => {
    const err = await client.responses
      .create({ model: "tiny-42", input: "x", ...extra } as OpenAI.Responses.ResponseCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
  });

  it("serves or refuses by name every parameter of ResponseCreateParamsBase", () => {
    const served = ResponsesRequest.properties;
    const neither = requestParameters("ResponseCreateParamsBase").filter(
      (p) => !(p in served) && !(p in unsupportedResponses),
    );
    expect(neither).toEqual([]);
    expect(Object.keys(unsupportedResponses).filter((p) => p in served)).toEqual([]);
  });
});
