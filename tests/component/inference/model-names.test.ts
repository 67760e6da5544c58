import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { listen, startServer } from "../../helpers/inference.js";

// Model names through the official `openai` client: strict by default, aliases when declared, any name
// with "*" (as llama.cpp's server does). Responses always carry the model's own id.
const servers: Server[] = [];
async function clientFor(servedModelNames?: string): Promise<OpenAI> {
  const server = await startServer({ parallel: 1, ...(servedModelNames ? { servedModelNames } : {}) });
  servers.push(server);
  return new OpenAI({ baseURL: `${await listen(server)}/v1`, apiKey: "unused", maxRetries: 0 });
}
let strict: OpenAI;
let aliased: OpenAI;
let any: OpenAI;
beforeAll(async () => {
  [strict, aliased, any] = [await clientFor(), await clientFor("gpt-4o-mini,default"), await clientFor("*")];
});
afterAll(async () => {
  for (const s of servers) await s.close();
});

const ask = (client: OpenAI, model: string) =>
  client.chat.completions
    .create({ model, messages: [{ role: "user", content: "hi" }], max_completion_tokens: 2 })
    .then(
      (r) => r.model,
      (err: unknown) => (err instanceof OpenAI.APIError ? err.status : err),
    );

describe("served model names", () => {
  it("answers only to the model's id by default (404 for a client's default model)", async () => {
    expect(await ask(strict, "tiny-42")).toBe("tiny-42");
    expect(await ask(strict, "gpt-4o-mini")).toBe(404);
  });

  it("answers to declared aliases, in chat, models.retrieve and embeddings, and to nothing else", async () => {
    expect(await ask(aliased, "gpt-4o-mini")).toBe("tiny-42");
    expect(await ask(aliased, "default")).toBe("tiny-42");
    expect(await ask(aliased, "gpt-4")).toBe(404);
    expect((await aliased.models.retrieve("default")).id).toBe("tiny-42");
    const e = await aliased.embeddings.create({ model: "gpt-4o-mini", input: "x" });
    expect(e.model).toBe("tiny-42");
  });

  it("answers to any name with *", async () => {
    expect(await ask(any, "gpt-4o-mini")).toBe("tiny-42");
    expect(await ask(any, "anything-at-all")).toBe("tiny-42");
  });
});
