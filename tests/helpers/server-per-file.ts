import { afterAll, beforeAll } from "vitest";
import type { Config } from "../../src/inference/config.js";
import type { Server } from "../../src/inference/server.js";
import { startServer } from "./inference.js";

/**
 * One server for a test file: started before its tests, closed after them. `post` injects a JSON body
 * into it.
 */
export function serverPerFile(overrides: Partial<Config> = {}) {
  let server: Server | undefined;
  beforeAll(async () => {
    server = await startServer(overrides);
  });
  afterAll(async () => {
    await server?.close();
  });
  const current = () => {
    if (!server) throw new Error("the file's server is not started yet");
    return server;
  };
  return {
    server: current,
    post: (url: string, payload: unknown) =>
      current().fastify.inject({ method: "POST", url, payload: payload as object }),
  };
}
