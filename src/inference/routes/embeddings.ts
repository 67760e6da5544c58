import type { FastifyPluginAsync } from "fastify";
import type { RouteOptions } from "./options.js";
import type { Token } from "node-llama-cpp";
import type { EmbeddingInput } from "../engine.js";
import { errors } from "../errors.js";
import { EmbeddingRequest, EmbeddingResponse, errorResponses } from "../schemas.js";
import { ClientGone, requestScope } from "./request-scope.js";

/** OpenAI's four input shapes, as a list of texts or token arrays. */
function inputs(input: EmbeddingRequest["input"]): EmbeddingInput[] {
  if (typeof input === "string") return [input];
  const [first] = input;
  if (typeof first === "number") return [input as Token[]];
  return input as EmbeddingInput[];
}

function base64(vector: number[]): string {
  return Buffer.from(Float32Array.from(vector).buffer).toString("base64");
}

/**
 * POST /v1/embeddings: one vector per input. It takes a slot like a generation, so it shares the queue,
 * its limit (429) and the request timeout.
 */
export const embeddingRoutes: FastifyPluginAsync<RouteOptions> = (fastify, opts) => {
  const { runtime, requestTimeoutSeconds } = opts;
  fastify.post<{ Body: EmbeddingRequest }>(
    "/v1/embeddings",
    { schema: { body: EmbeddingRequest, response: { 200: EmbeddingResponse, ...errorResponses } } },
    async (request, reply) => {
      const body = request.body;
      const engine = runtime.engineFor(body.model);
      if (body.dimensions !== undefined && body.dimensions !== engine.embeddingSize) {
        throw errors.invalidRequest(
          `This model's embeddings have ${engine.embeddingSize} dimensions; it cannot return ${body.dimensions}.`,
          "dimensions",
        );
      }
      const scope = requestScope(runtime, reply, requestTimeoutSeconds);
      try {
        const slot = await engine.slots.acquire(scope.signal);
        try {
          const { vectors, promptTokens } = await engine.embed(inputs(body.input), scope.signal);
          return {
            object: "list" as const,
            data: vectors.map((v, index) => ({
              object: "embedding" as const,
              index,
              embedding: body.encoding_format === "base64" ? base64(v) : v,
            })),
            model: runtime.modelId,
            usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
          };
        } finally {
          engine.slots.release(slot);
        }
      } catch (err) {
        const cause = scope.cause(err);
        if (!(cause instanceof ClientGone)) throw cause;
        request.log.info({ route: "/v1/embeddings" }, "client disconnected; embedding cancelled");
        // Nobody is listening; the status is for the request counter and the log.
        return await reply.code(499).send();
      } finally {
        scope.end();
      }
    },
  );
  return Promise.resolve();
};
