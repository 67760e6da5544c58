import type { FastifyPluginAsync } from "fastify";

/** The inference server's routes, as a fastify plugin so tests register it on their own instance. */
export const app: FastifyPluginAsync = (fastify) => {
  fastify.get("/health", () => ({ status: "ok" }));
  return Promise.resolve();
};
