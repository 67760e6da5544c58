import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { completion, json, spawnServer, waitReady, type ServerProcess } from "../../helpers/inference.js";
import { fixtureModel } from "../../helpers/fixture-model.js";
import { waitFor } from "../../helpers/wait.js";

// `npm run serve` as a real process: startup, readiness, SIGTERM drain and failures with exit codes.
const procs: ServerProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill("SIGKILL");
});
function start(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = spawnServer(args, env);
  procs.push(p);
  return p;
}
/** One request on `agent`'s connection (node:http, so the test chooses which connection it uses). */
function send(agent: Agent, base: string, method: string, path: string, body?: unknown) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = request(new URL(path, base), {
      method,
      agent,
      headers: { "content-type": "application/json" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
      });
    });
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("server lifecycle", () => {
  it("drains on SIGTERM: not ready, requests still arriving served and their connections closed, in-flight ones finish, exit 0", async () => {
    const p = start(["--model", fixtureModel(), "--parallel", "2", "--context-size", "1024"]);
    await waitReady(p.url);
    const model = "tiny-42";
    const inFlight = [0, 1].map((i) =>
      post(`${p.url}/v1/completions`, completion(`long ${i}`, { model, max_tokens: 900 })),
    );
    await waitFor("2 requests in flight", async () =>
      (await (await fetch(`${p.url}/metrics`)).text()).includes("spillway_inference_requests_in_flight 2"),
    );
    // Two clients with a connection each, opened before the signal (as a keep-alive pool holds them).
    const readiness = new Agent({ keepAlive: true, maxSockets: 1 });
    const late = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await send(late, p.url, "GET", "/health")).status).toBe(200);
    expect((await send(readiness, p.url, "GET", "/health")).status).toBe(200);
    p.child.kill("SIGTERM");
    await waitFor("the drain begun", () => p.output().includes('"msg":"draining"'), { timeoutMs: 2000 });
    const ready = await send(readiness, p.url, "GET", "/ready");
    expect(ready.status).toBe(503);
    expect(ready.headers.connection).toBe("close");

    // A request that reaches the draining server on an open connection is answered, not refused, and
    // its connection closes so the client's next request goes elsewhere.
    const answered = await send(late, p.url, "POST", "/v1/completions", completion("late", { model }));
    expect(answered.status).toBe(200);
    expect(answered.headers.connection).toBe("close");
    expect(JSON.parse(answered.body).choices).toHaveLength(1);

    const done = await Promise.all(inFlight);
    expect(done.map((r) => r.status)).toEqual([200, 200]);
    for (const r of done) expect((await json(r)).usage.completion_tokens).toBe(900);
    expect(await p.exit).toBe(0);
    expect(p.output()).toMatch(/"drained":true/);
  });

  it("closes a connection after its first answer past --max-connection-age, so a client's next request goes through the Service again", async () => {
    const p = start(["--model", fixtureModel(), "--max-connection-age", "1"]);
    await waitReady(p.url);
    const client = new Agent({ keepAlive: true, maxSockets: 1 });
    const young = await send(client, p.url, "POST", "/v1/completions", completion("a", { model: "tiny-42" }));
    expect(young.status).toBe(200);
    expect(young.headers.connection).toBe("keep-alive");
    await new Promise((r) => setTimeout(r, 1100));
    const old = await send(client, p.url, "POST", "/v1/completions", completion("b", { model: "tiny-42" }));
    expect(old.status).toBe(200);
    expect(old.headers.connection).toBe("close");
    p.child.kill("SIGTERM");
    expect(await p.exit).toBe(0);
  });

  it("answers /health at once and /ready only after the model is loaded and warmed", async () => {
    const p = start(["--model", fixtureModel()]);
    await waitFor("listening", async () => (await fetch(`${p.url}/health`)).status === 200, {
      timeoutMs: 30_000,
    });
    await waitReady(p.url);
    expect(p.output()).toMatch(/"msg":"model ready"/);
    p.child.kill("SIGTERM");
    expect(await p.exit).toBe(0);
  });

  it("fails startup with one clear line and exit 1 for a missing model", async () => {
    const p = start(["--model", "/nonexistent/model.gguf"]);
    expect(await p.exit).toBe(1);
    expect(p.output()).toMatch(/model failed to load: model file \/nonexistent\/model.gguf does not exist/);
  });

  it("fails startup for a checksum mismatch, naming both digests", async () => {
    const p = start(["--model", fixtureModel(), "--sha256", "0".repeat(64)]);
    expect(await p.exit).toBe(1);
    expect(p.output()).toMatch(/checksum mismatch .* expected sha256 0{64}, got [0-9a-f]{64}/);
  });

  it("fails startup with llama.cpp's reason for a truncated GGUF (a partial download)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-bad-"));
    const bad = join(dir, "truncated.gguf");
    writeFileSync(bad, readFileSync(fixtureModel()).subarray(0, 300_000));
    const p = start(["--model", bad]);
    expect(await p.exit).toBe(1);
    const line =
      p
        .output()
        .split("\n")
        .find((l) => l.includes("model failed to load")) ?? "";
    expect(line).toMatch(
      /cannot load .*truncated\.gguf: Failed to load model \(llama\.cpp: .*not within the file bounds/,
    );
  });

  it("fails startup naming invalid metadata for a GGUF with a garbled header", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-bad-"));
    const bad = join(dir, "garbled.gguf");
    writeFileSync(bad, Buffer.from("GGUF\x03\x00\x00\x00"));
    const p = start(["--model", bad]);
    expect(await p.exit).toBe(1);
    expect(p.output()).toMatch(/cannot load .*garbled\.gguf: invalid GGUF metadata/);
  });

  it("refuses a bad option with exit 3 and the option's name", async () => {
    const p = start(["--model", fixtureModel(), "--parallel", "zero"]);
    expect(await p.exit).toBe(3);
    expect(p.output()).toMatch(/invalid --parallel \/ SPILLWAY_PARALLEL/);
  });
});
