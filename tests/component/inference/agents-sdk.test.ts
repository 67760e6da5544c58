import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool } from "@openai/agents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Server } from "../../../src/inference/server.js";
import { parsePrometheusText } from "../../../src/lib/prometheus-text.js";
import { listen, startServer } from "../../helpers/inference.js";

// OpenAI's agents SDK, which speaks the Responses API, running an agent with a tool against the real
// server. 0.14.3 is the newest release that runs on Node 20: later ones need openai 7, which needs Node 22.
// Its core imports the MCP SDK, an optional dependency the project's .npmrc leaves out, so package.json
// names that too.

// Traces would be sent to OpenAI's platform; there is nothing to send them to here.
setTracingDisabled(true);

let server: Server;
let runner: Runner;
beforeAll(async () => {
  // Room for the tool documentation a tool request adds to the prompt, and a second turn.
  server = await startServer({ contextSize: 2048 });
  const provider = new OpenAIProvider({
    baseURL: `${await listen(server)}/v1`,
    apiKey: "unused",
    useResponses: true,
  });
  runner = new Runner({ modelProvider: provider, tracingDisabled: true });
});
afterAll(async () => {
  await server.close();
});

describe("the OpenAI agents SDK", () => {
  it("runs an agent that calls a tool, reads its output and answers", async () => {
    const called: string[] = [];
    const lookup = tool({
      name: "lookup",
      description: "Looks a word up",
      // An enum keeps the arguments short whatever the fixture model samples, so the call finishes.
      parameters: z.object({ word: z.enum(["spill", "way"]) }),
      execute: ({ word }) => {
        called.push(word);
        return `${word}: a word`;
      },
    });
    const agent = new Agent({
      name: "librarian",
      instructions: "Look words up.",
      model: "tiny-42",
      tools: [lookup],
      // The first turn must call the tool; the next, with the tool's output, answers in text.
      modelSettings: { toolChoice: "lookup", maxTokens: 100 },
      resetToolChoice: true,
    });
    const result = await runner.run(agent, "look up spill", { maxTurns: 3 });
    expect(called).toHaveLength(1);
    expect(["spill", "way"]).toContain(called[0]);
    expect(result.newItems.map((i) => i.type)).toEqual([
      "tool_call_item",
      "tool_call_output_item",
      "message_output_item",
    ]);
    expect(typeof result.finalOutput).toBe("string");
    const metrics = parsePrometheusText((await server.fastify.inject({ url: "/metrics" })).body);
    const responses = metrics.find(
      (s) => s.name === "spillway_inference_requests_total" && s.labels.route === "/v1/responses",
    );
    expect(responses?.value).toBe(2);
  });
});
