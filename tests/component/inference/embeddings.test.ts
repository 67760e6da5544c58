import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { listen, startServer } from "../../helpers/inference.js";
import { contractErrors } from "../../helpers/openai-contract.js";

// POST /v1/embeddings through the official `openai` client (which asks for base64 by default) and raw
// HTTP, on the tiny fixture (64-dimensional embeddings) with real llama.cpp.
let server: Server;
let url: string;
let client: OpenAI;
beforeAll(async () => {
  server = await startServer({ parallel: 2 });
  url = await listen(server);
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

const post = (body: unknown) =>
  fetch(`${url}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

async function status(p: Promise<unknown>): Promise<{ status: number; param: string | null | undefined }> {
  try {
    await p;
    return { status: 200, param: undefined };
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    return { status: err.status ?? 0, param: err.param };
  }
}

describe("embeddings", () => {
  it("embeds a list of texts through the openai client, one vector per input, in order", async () => {
    const r = await client.embeddings.create({ model: "tiny-42", input: ["model server", "spot node"] });
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    expect(r.data.every((d) => d.embedding.length === 64)).toBe(true);
    expect(r.data[0]?.embedding).not.toEqual(r.data[1]?.embedding);
    expect(r.usage.prompt_tokens).toBeGreaterThan(2);
    expect(r.usage.total_tokens).toBe(r.usage.prompt_tokens);
  });

  it("gives the same vector as float or base64, and for the same text twice", async () => {
    const asBase64 = await client.embeddings.create({ model: "tiny-42", input: "burst load" });
    const asFloat = await client.embeddings.create({
      model: "tiny-42",
      input: "burst load",
      encoding_format: "float",
    });
    const a = asBase64.data[0]?.embedding ?? [];
    const b = asFloat.data[0]?.embedding ?? [];
    expect(a).toHaveLength(64);
    // base64 carries float32; JSON carries the same float32 values as decimals.
    b.forEach((v, i) => {
      expect(a[i]).toBeCloseTo(v, 5);
    });
    expect(Math.hypot(...a)).toBeGreaterThan(0);
  });

  it("embeds token arrays as the text they tokenize to", async () => {
    const tokens = server.engine!.model.tokenize("model server");
    const fromText = await client.embeddings.create({ model: "tiny-42", input: "model server" });
    const fromTokens = await client.embeddings.create({ model: "tiny-42", input: tokens });
    const fromBatch = await client.embeddings.create({ model: "tiny-42", input: [tokens] });
    expect(fromTokens.data[0]?.embedding).toEqual(fromText.data[0]?.embedding);
    expect(fromBatch.data[0]?.embedding).toEqual(fromText.data[0]?.embedding);
  });

  it("answers a CreateEmbeddingResponse of the openai package's own type", async () => {
    const res = await post({ model: "tiny-42", input: ["a", "b"], encoding_format: "float" });
    expect(res.status).toBe(200);
    expect(contractErrors("CreateEmbeddingResponse", await res.json())).toEqual([]);
  });

  it("refuses what cannot work, naming the parameter", async () => {
    const model = "tiny-42";
    expect(await status(client.embeddings.create({ model: "gpt-4", input: "x" }))).toEqual({
      status: 404,
      param: "model",
    });
    expect(await status(client.embeddings.create({ model, input: "" }))).toMatchObject({ status: 400 });
    expect(await status(client.embeddings.create({ model, input: [1, 2, 999_999] }))).toEqual({
      status: 400,
      param: "input",
    });
    expect(await status(client.embeddings.create({ model, input: "x", dimensions: 32 }))).toEqual({
      status: 400,
      param: "dimensions",
    });
    const long = Array.from({ length: 600 }, () => 300);
    const res = await post({ model, input: long });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { param: "input", code: "context_length_exceeded" } });
  });

  it("counts each request once, with its status", async () => {
    const before = await (await fetch(`${url}/metrics`)).text();
    await post({ model: "tiny-42", input: "x" });
    const after = await (await fetch(`${url}/metrics`)).text();
    const count = (text: string) =>
      Number(
        /spillway_inference_requests_total\{route="\/v1\/embeddings",status="200"\} (\d+)/.exec(text)?.[1] ??
          0,
      );
    expect(count(after) - count(before)).toBe(1);
  });
});
