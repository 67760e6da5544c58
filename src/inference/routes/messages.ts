import type { FastifyPluginAsync } from "fastify";
import { sendError } from "../error-handler.js";
import { renamed } from "../errors.js";
import { messagesEncoder } from "../messages/encoder.js";
import { messagesErrorBody } from "../messages/errors.js";
import { chatRequest, messagesNames } from "../messages/request.js";
import { MessageResponse, MessagesRequest, messagesErrors } from "../messages/schemas.js";
import { counted, run } from "./generation.js";
import { chatJob } from "./jobs.js";
import type { RouteOptions } from "./options.js";

const ROUTE = "/v1/messages";

/**
 * POST /v1/messages: Anthropic's Messages API as a chat completion on the one generation path. The
 * plugin has its own error handler, so that every error of this route (a bad body, a missing key, an
 * unknown model) is sent in Anthropic's shape.
 */
export const messagesRoutes: FastifyPluginAsync<RouteOptions> = (fastify, opts) => {
  const { runtime, requestTimeoutSeconds } = opts;
  fastify.setErrorHandler((err, request, reply) =>
    sendError(reply, request, err, (e) => messagesErrorBody(e, request.id)),
  );
  fastify.post<{ Body: MessagesRequest }>(
    ROUTE,
    { schema: { body: MessagesRequest, response: { 200: MessageResponse, ...messagesErrors } } },
    (request, reply) =>
      counted(runtime, ROUTE, request, async () => {
        try {
          const job = { ...chatJob(chatRequest(request.body)), route: ROUTE };
          const encoder = messagesEncoder(runtime.modelId, request.id);
          return await run(runtime, requestTimeoutSeconds, job, encoder, request, reply);
        } catch (err) {
          // The chat path names what failed in its own terms; the client knows Anthropic's.
          throw renamed(err, messagesNames);
        }
      }),
  );
  return Promise.resolve();
};
