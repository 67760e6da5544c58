import { existsSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { TERMINATION_LOG, terminationMessage } from "../api/server.js";
import { ConfigError, loadConfig } from "./config.js";
import { ModelSourceError } from "./model-source.js";
import { createServer } from "./server.js";

/**
 * The process entry (`npm run serve`, `spillway serve`, the image's ENTRYPOINT): config, listen, load the
 * model, drain on SIGTERM. Everything else is in server.ts.
 */
export async function serve(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = loadConfig(argv, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`spillway serve: ${err.message}\n`);
    process.exit(3);
  }

  const server = await createServer(config);
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      server.fastify.log.info({ signal }, "draining");
      void server
        .drain()
        .then(() => server.close())
        .then(() => process.exit(0));
    });
  }

  if (!env.UV_THREADPOOL_SIZE) {
    // libuv reads it once, at its first use, before this code runs: it has to come from the environment.
    server.fastify.log.warn(
      "UV_THREADPOOL_SIZE is not set: llama.cpp's decodes run on libuv's default pool of 4 threads, which is " +
        "slower than one; start the server with UV_THREADPOOL_SIZE=1 (the image does)",
    );
  }
  await server.fastify.listen({ port: config.port, host: config.host });
  try {
    await server.load();
  } catch (err) {
    // One clear line with the cause, then a non-zero exit: the pod restarts and its status shows why
    // (the termination message, which the operator's Ready condition repeats).
    const reason = err instanceof ModelSourceError ? err.reason : "ModelLoadFailed";
    server.fastify.log.fatal(
      { model: config.model, reason },
      `model failed to load: ${(err as Error).message}`,
    );
    if (existsSync(TERMINATION_LOG)) {
      try {
        writeFileSync(TERMINATION_LOG, terminationMessage(reason, (err as Error).message));
      } catch {
        // not writable outside Kubernetes; the log line above says the same
      }
    }
    await server.fastify.close();
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await serve(process.argv.slice(2));
}
