import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { listen, startServer } from "../../helpers/inference.js";

// The official `openai` client, unchanged, against the real server on loopback.
let server: Server;
let client: OpenAI;
beforeAll(async () => {
  server = await startServer({ apiKey: "sk-local" });
  client = new OpenAI({ baseURL: `${await listen(server)}/v1`, apiKey: "sk-local", maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

describe("openai client", () => {
  it("lists models", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["tiny-42"]);
  });

  it("creates a chat completion", async () => {
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello" },
      ],
      max_completion_tokens: 6,
      temperature: 0,
    });
    expect(r.choices[0]?.finish_reason).toBe("length");
    expect(r.usage?.completion_tokens).toBe(6);
  });

  it("streams a chat completion with usage", async () => {
    const stream = await client.chat.completions.create({
      model: "tiny-42",
      messages: [{ role: "user", content: "hello" }],
      max_completion_tokens: 6,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let completionTokens = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      completionTokens = chunk.usage?.completion_tokens ?? completionTokens;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(completionTokens).toBe(6);
  });

  it("creates and streams a legacy completion", async () => {
    const r = await client.completions.create({
      model: "tiny-42",
      prompt: "the",
      max_tokens: 4,
      temperature: 0,
    });
    const stream = await client.completions.create({
      model: "tiny-42",
      prompt: "the",
      max_tokens: 4,
      temperature: 0,
      stream: true,
    });
    let streamed = "";
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? "";
    expect(streamed).toBe(r.choices[0]?.text);
  });

  it("returns n choices, different with one seed, usage summed", async () => {
    const one = await client.chat.completions.create({
      model: "tiny-42",
      messages: [{ role: "user", content: "hello" }],
      max_completion_tokens: 8,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed: 7,
    });
    const r = await client.chat.completions.create({
      model: "tiny-42",
      messages: [{ role: "user", content: "hello" }],
      max_completion_tokens: 8,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated in OpenAI's API, served here
      seed: 7,
      n: 3,
    });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    // Choice 0 is what n=1 gives with the same seed; the others use seed+1, seed+2.
    expect(r.choices[0]?.message.content).toBe(one.choices[0]?.message.content);
    expect(new Set(r.choices.map((c) => c.message.content)).size).toBe(3);
    expect(r.usage?.completion_tokens).toBe(24);
    expect(r.usage?.prompt_tokens).toBe(one.usage?.prompt_tokens);
  });

  it("streams n choices, each with its role, content and finish reason", async () => {
    const stream = await client.completions.create({
      model: "tiny-42",
      prompt: "the",
      max_tokens: 5,
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const text = new Map<number, string>();
    const finish = new Map<number, string>();
    let usage = 0;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text.set(c.index, (text.get(c.index) ?? "") + c.text);
        // Typed non-null by the SDK, but null until a choice's last chunk (see contract.test.ts).
        const reason = c.finish_reason as string | null;
        if (reason) finish.set(c.index, reason);
      }
      usage = chunk.usage?.completion_tokens ?? usage;
    }
    expect([...finish]).toEqual([
      [0, "length"],
      [1, "length"],
    ]);
    expect([...text.values()].every((t) => t.length > 0)).toBe(true);
    expect(usage).toBe(10);
  });

  it("surfaces API errors as the client's typed errors", async () => {
    const err = await client.chat.completions
      .create({ model: "nope", messages: [{ role: "user", content: "x" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
  });
});
