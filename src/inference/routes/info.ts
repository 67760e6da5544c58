import type { FastifyPluginAsync } from "fastify";
import { SERVER_PATHS } from "../../api/server.js";
import type { RouteOptions } from "./options.js";
import { errors } from "../errors.js";
import { ErrorResponse, ModelList, ModelObject } from "../schemas.js";

/** Liveness, readiness, metrics and the model list. */
export const infoRoutes: FastifyPluginAsync<RouteOptions> = (fastify, { runtime }) => {
  const modelObject = () => ({
    id: runtime.modelId,
    object: "model" as const,
    created: runtime.created,
    owned_by: "spillway",
    context_length: runtime.engine?.contextSize ?? 0,
    parallel: runtime.engine?.slots.size ?? 0,
    sha256: runtime.modelDigest ?? null,
  });

  // Liveness: the process serves HTTP. Loading and draining are readiness concerns.
  fastify.get(SERVER_PATHS.health, () => ({ status: "ok" }));

  fastify.get(SERVER_PATHS.ready, (_request, reply) => {
    if (runtime.phase === "ready") return { status: "ready" };
    const why = {
      loading: "the model is loading",
      draining: "the server is draining",
      failed: "the model failed to load",
    }[runtime.phase];
    return reply.code(503).header("retry-after", "1").send({ status: runtime.phase, reason: why });
  });

  fastify.get(SERVER_PATHS.metrics, async (_request, reply) => {
    const { metrics } = runtime;
    if (runtime.engine) {
      metrics.slotsTotal.set(runtime.engine.slots.size);
      metrics.slotsBusy.set(runtime.engine.slots.busy);
      metrics.queueDepth.set(runtime.engine.slots.queued);
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  fastify.get("/v1/models", { schema: { response: { 200: ModelList } } }, () => ({
    object: "list" as const,
    data: [modelObject()],
  }));

  fastify.get<{ Params: { model: string } }>(
    "/v1/models/:model",
    { schema: { response: { 200: ModelObject, 404: ErrorResponse } } },
    (request) => {
      if (!runtime.serves(request.params.model)) throw errors.modelNotFound(request.params.model);
      return modelObject();
    },
  );
  return Promise.resolve();
};
