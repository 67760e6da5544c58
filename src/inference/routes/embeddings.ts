import type { FastifyPluginAsync } from "fastify";
import type { AppOptions } from "../app.js";
import type { Token } from "node-llama-cpp";
import type { EmbeddingInput } from "../engine.js";
import { errors } from "../errors.js";
import { EmbeddingRequest, EmbeddingResponse, errorResponses } from "../schemas.js";

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
export const embeddingRoutes: FastifyPluginAsync<AppOptions> = (fastify, opts) => {
  const { runtime, requestTimeoutSeconds } = opts;
  fastify.post<{ Body: EmbeddingRequest }>(
    "/v1/embeddings",
    { schema: { body: EmbeddingRequest, response: { 200: EmbeddingResponse, ...errorResponses } } },
    async (request, reply) => {
      const body = request.body;
      const engine = runtime.engineFor(body.model);
      if (body.dimensions !== undefined && body.dimensions !== engine.model.embeddingVectorSize) {
        throw errors.invalidRequest(
          `This model's embeddings have ${engine.model.embeddingVectorSize} dimensions; it cannot return ${body.dimensions}.`,
          "dimensions",
        );
      }
      const abort = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) abort.abort(new Error("client disconnected"));
      };
      reply.raw.once("close", onClose);
      const timer = setTimeout(() => {
        abort.abort(errors.timeout(requestTimeoutSeconds));
      }, requestTimeoutSeconds * 1000);
      const done = runtime.track();
      try {
        const slot = await engine.slots.acquire(abort.signal);
        try {
          const { vectors, promptTokens } = await engine.embed(inputs(body.input), abort.signal);
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
        throw abort.signal.aborted ? abort.signal.reason : err;
      } finally {
        clearTimeout(timer);
        reply.raw.off("close", onClose);
        done();
      }
    },
  );
  return Promise.resolve();
};
