import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { chat, startServer } from "../../helpers/inference.js";

// With an API key configured, every /v1 route needs it; probes and metrics stay open.
let server: Server;
beforeAll(async () => {
  server = await startServer({ apiKey: "sk-test-key" });
});
afterAll(async () => {
  await server.close();
});

describe("API key", () => {
  it.each([
    ["no header", {}, /didn't provide an API key/],
    ["wrong key", { authorization: "Bearer sk-wrong" }, /Incorrect API key/],
    ["not a bearer token", { authorization: "Basic abc" }, /didn't provide an API key/],
  ])("%s → 401", async (_name, headers, message) => {
    for (const url of ["/v1/models", "/v1/chat/completions"]) {
      const res = await server.fastify.inject({
        method: url === "/v1/models" ? "GET" : "POST",
        url,
        headers,
        payload: chat("x"),
      });
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toMatchObject({
        type: "authentication_error",
        code: "invalid_api_key",
        message: expect.stringMatching(message),
      });
    }
  });

  it("accepts the right key", async () => {
    const res = await server.fastify.inject({
      method: "POST",
      url: "/v1/chat/completions",
      headers: { authorization: "Bearer sk-test-key" },
      payload: chat("x", { max_tokens: 2 }),
    });
    expect(res.statusCode).toBe(200);
  });

  it("leaves /health, /ready and /metrics open", async () => {
    for (const url of ["/health", "/ready", "/metrics"]) {
      expect((await server.fastify.inject({ url })).statusCode).toBe(200);
    }
  });
});
