import { ConfigError, loadConfig } from "./config.js";
import { createServer } from "./serve.js";

// The process entry: config, listen, load the model, drain on SIGTERM. Everything else is in serve.ts.
let config;
try {
  config = loadConfig(process.argv.slice(2), process.env);
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

await server.fastify.listen({ port: config.port, host: config.host });
try {
  await server.load();
} catch (err) {
  // One clear line with the cause, then a non-zero exit: the pod restarts or the operator sees it fail.
  server.fastify.log.fatal({ model: config.model }, `model failed to load: ${(err as Error).message}`);
  await server.fastify.close();
  process.exit(1);
}
