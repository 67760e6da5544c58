import type { FastifyPluginAsync } from "fastify";
import { renamed } from "../errors.js";
import { responsesEncoder } from "../responses/encoder.js";
import { chatRequest, responsesNames } from "../responses/request.js";
import { ResponseObject, ResponsesRequest } from "../responses/schemas.js";
import { errorResponses } from "../schemas.js";
import { counted, run } from "./generation.js";
import { chatJob } from "./jobs.js";
import type { RouteOptions } from "./options.js";

const ROUTE = "/v1/responses";

/**
 * POST /v1/responses: OpenAI's Responses API as a chat completion on the one generation path. Stateless:
 * nothing is stored, so the whole conversation comes as input items (previous_response_id is refused).
 */
export const responsesRoutes: FastifyPluginAsync<RouteOptions> = (fastify, opts) => {
  const { runtime, requestTimeoutSeconds } = opts;
  fastify.post<{ Body: ResponsesRequest }>(
    ROUTE,
    { schema: { body: ResponsesRequest, response: { 200: ResponseObject, ...errorResponses } } },
    (request, reply) =>
      counted(runtime, ROUTE, request, async () => {
        try {
          const job = { ...chatJob(chatRequest(request.body)), route: ROUTE };
          const encoder = responsesEncoder(request.body, runtime.modelId);
          return await run(runtime, requestTimeoutSeconds, job, encoder, request, reply);
        } catch (err) {
          // The chat path names what failed in its own terms; the client knows the Responses API's.
          throw renamed(err, responsesNames);
        }
      }),
  );
  return Promise.resolve();
};
