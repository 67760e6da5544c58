import { afterEach, describe, expect, it } from "vitest";
import type { Server } from "../../../src/inference/server.js";
import { completion, json, listen, startServer } from "../../helpers/inference.js";
import { waitFor } from "../../helpers/wait.js";

// Slots, the queue in front of them and cancellation, over real HTTP on loopback.
let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const postJson = (url: string, body: unknown, signal?: AbortSignal) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: signal ?? null,
  });

describe("scheduling", () => {
  it("completes 8 concurrent requests on 4 slots, decoding them together", async () => {
    server = await startServer({ parallel: 4 });
    const url = await listen(server);
    const slots = server.engine!.slots;
    let maxBusy = 0;
    let maxQueued = 0;
    const sampler = setInterval(() => {
      maxBusy = Math.max(maxBusy, slots.busy);
      maxQueued = Math.max(maxQueued, slots.queued);
    }, 2);
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        postJson(`${url}/v1/completions`, completion(`request ${i}`, { max_tokens: 48 })),
      ),
    );
    clearInterval(sampler);
    const bodies = await Promise.all(responses.map((r) => json(r)));
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    for (const b of bodies) expect(b.usage.completion_tokens).toBe(48);
    expect(maxBusy).toBe(4);
    expect(maxQueued).toBeGreaterThan(0);
    expect(slots.busy).toBe(0);
  });

  it("refuses requests beyond the queue bound with 429 and Retry-After", async () => {
    server = await startServer({ parallel: 1, maxQueue: 1 });
    const url = await listen(server);
    const responses = await Promise.all(
      [0, 1, 2].map((i) => postJson(`${url}/v1/completions`, completion(`r${i}`, { max_tokens: 64 }))),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 429]);
    const refused = responses.find((r) => r.status === 429)!;
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await json(refused)).error).toMatchObject({ type: "rate_limit_error", code: "queue_full" });
  });

  it("cancels the generation of a client that disconnects mid-stream and frees its slot", async () => {
    server = await startServer({ parallel: 1 });
    const url = await listen(server);
    const ac = new AbortController();
    const res = await postJson(
      `${url}/v1/completions`,
      completion("a long story", { max_tokens: 450, stream: true }),
      ac.signal,
    );
    const reader = res.body!.getReader();
    await reader.read(); // the first event: generation is under way
    expect(server.engine!.slots.busy).toBe(1);
    ac.abort();
    const slots = server.engine!.slots;
    await waitFor("slot freed", () => slots.busy === 0, { timeoutMs: 2000 });

    // The only slot serves the next request straight away.
    const next = await postJson(`${url}/v1/completions`, completion("next", { max_tokens: 4 }));
    expect(next.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('spillway_inference_requests_total{route="/v1/completions",status="499"} 1');
  });

  it("a queued request whose client goes away leaves the queue", async () => {
    server = await startServer({ parallel: 1, maxQueue: 4 });
    const url = await listen(server);
    const slots = server.engine!.slots;
    const first = await postJson(
      `${url}/v1/completions`,
      completion("busy", { max_tokens: 450, stream: true }),
    );
    const reader = first.body!.getReader();
    await reader.read();
    expect(slots.busy).toBe(1);
    const ac = new AbortController();
    const queued = postJson(
      `${url}/v1/completions`,
      completion("queued", { max_tokens: 4 }),
      ac.signal,
    ).catch((e: unknown) => e);
    await waitFor("request queued", () => slots.queued === 1);
    ac.abort();
    await queued;
    await waitFor("queue empty", () => slots.queued === 0, { timeoutMs: 2000 });
    // The first request is unaffected and runs to its end.
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read())
      text += new TextDecoder().decode(r.value);
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
  });

  it("ends a request that runs past the request timeout with 503 and frees its slot", async () => {
    server = await startServer({ parallel: 1, contextSize: 2048, requestTimeoutSeconds: 1 });
    const url = await listen(server);
    const started = Date.now();
    const res = await postJson(
      `${url}/v1/completions`,
      completion("a very long story", { max_tokens: 2000 }),
    );
    expect(res.status).toBe(503);
    expect((await json(res)).error).toMatchObject({ code: "timeout", type: "service_unavailable" });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(server.engine!.slots.busy).toBe(0);
  });
});
