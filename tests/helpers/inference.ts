import type { ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/inference/config.js";
import { createServer, type Server } from "../../src/inference/server.js";
import { fixtureModel } from "./fixture-model.js";
import { spawnTs } from "./process.js";
import { waitFor } from "./wait.js";

/** A config for tests: the tiny fixture model, 4 slots of 512 tokens, its own cache dir. */
export function serverTestConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig([], { SPILLWAY_MODEL: fixtureModel(), SPILLWAY_LOG_LEVEL: "warn" }),
    contextSize: 512,
    parallel: 4,
    cacheDir: mkdtempSync(join(tmpdir(), "spillway-cache-")),
    ...overrides,
  };
}

/** An in-process server with the model loaded; call `close()` after the tests. */
export async function startServer(overrides: Partial<Config> = {}): Promise<Server> {
  const server = await createServer(serverTestConfig(overrides));
  await server.load();
  return server;
}

/** Listens on an ephemeral loopback port; returns the base URL. */
export async function listen(server: Server): Promise<string> {
  await server.fastify.listen({ port: 0, host: "127.0.0.1" });
  const addr = server.fastify.server.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  return `http://127.0.0.1:${addr.port}`;
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exit: Promise<number | null>;
}

/** `npm run serve` as a real process (for signals and exit codes), on a free loopback port. */
export function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}): ServerProcess {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const p = spawnTs("src/inference/main.ts", ["--port", String(port), "--host", "127.0.0.1", ...args], {
    SPILLWAY_LOG_LEVEL: "info",
    // As `npm run serve` and the image start it.
    UV_THREADPOOL_SIZE: "1",
    ...env,
  });
  return { ...p, url: `http://127.0.0.1:${port}` };
}

export async function waitReady(url: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${url}/ready`, async () => (await fetch(`${url}/ready`)).status === 200, { timeoutMs });
}

/** Builds a chat request body for the fixture model. */
export function chat(content: string, extra: Record<string, unknown> = {}) {
  return { model: "tiny-42", messages: [{ role: "user", content }], max_tokens: 8, temperature: 0, ...extra };
}

export function completion(prompt: string, extra: Record<string, unknown> = {}) {
  return { model: "tiny-42", prompt, max_tokens: 8, temperature: 0, ...extra };
}

/** A response body as JSON, for assertions on its shape. */
export async function json(res: Response): Promise<any> {
  return res.json();
}
