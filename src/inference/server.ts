import Fastify from "fastify";
import { app } from "./app.js";

// Builds the instance, registers the app and handles signals; everything else lives in app.ts.
const port = Number(process.env.SPILLWAY_PORT ?? 8080);
const host = process.env.SPILLWAY_HOST ?? "127.0.0.1";

const server = Fastify({ logger: true });
await server.register(app);
await server.listen({ port, host });

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void server.close().then(() => process.exit(0));
  });
}
