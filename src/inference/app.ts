import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { sendError } from "./error-handler.js";
import { errors } from "./errors.js";
import { embeddingRoutes } from "./routes/embeddings.js";
import { generationRoutes } from "./routes/generation.js";
import { infoRoutes } from "./routes/info.js";
import { messagesRoutes } from "./routes/messages.js";
import { responsesRoutes } from "./routes/responses.js";
import type { RouteOptions } from "./routes/options.js";

declare module "fastify" {
  interface FastifyRequest {
    /**
     * Set by a handler that counts its request itself, with the outcome the HTTP status cannot tell (a
     * stream sent as 200 that ended as 499). onResponse can run before such a handler has finished: when
     * a client goes away, it runs on the socket's close.
     */
    outcome?: string;
  }
}

export interface AppOptions extends RouteOptions {
  /** When set, every /v1 route requires `Authorization: Bearer <apiKey>` (or `x-api-key: <apiKey>`). */
  apiKey?: string | undefined;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

const core = fp(
  (fastify: FastifyInstance, opts: AppOptions, done: (err?: Error) => void) => {
    // Parse JSON as bytes first: invalid UTF-8 is refused by name rather than silently replaced.
    const parseJson = fastify.getDefaultJsonParser("error", "error");
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    fastify.removeContentTypeParser("application/json");
    fastify.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, parsed) => {
      let text: string;
      try {
        text = utf8.decode(body as Buffer);
      } catch {
        parsed(errors.invalidRequest("The request body is not valid UTF-8."), undefined);
        return;
      }
      void parseJson(req, text, parsed);
    });

    fastify.setErrorHandler((err, request, reply) => sendError(reply, request, err));
    fastify.setNotFoundHandler((request, reply) =>
      sendError(reply, request, errors.routeNotFound(request.method, request.url)),
    );

    const expected = opts.apiKey ? digest(opts.apiKey) : undefined;
    fastify.addHook("onRequest", (request, _reply, next) => {
      if (!expected || !request.url.startsWith("/v1/")) {
        next();
        return;
      }
      // Bearer, as OpenAI's clients send it; x-api-key, as Anthropic's do.
      const header = request.headers.authorization;
      const apiKey = request.headers["x-api-key"];
      const token = header?.startsWith("Bearer ")
        ? header.slice(7).trim()
        : typeof apiKey === "string"
          ? apiKey.trim()
          : undefined;
      if (!token) {
        next(
          errors.unauthorized(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
          ),
        );
        return;
      }
      next(
        timingSafeEqual(digest(token), expected)
          ? undefined
          : errors.unauthorized("Incorrect API key provided."),
      );
    });

    // Every request is counted once: here, unless its handler counts it (the generation routes do).
    const { metrics } = opts.runtime;
    fastify.addHook("onResponse", (request, reply, next) => {
      if (request.outcome === undefined)
        metrics.requests.inc({
          route: request.routeOptions.url ?? "unknown",
          status: String(reply.statusCode),
        });
      next();
    });
    done();
  },
  { name: "spillway-core" },
);

/** The inference server's HTTP surface, as a fastify plugin so tests register it on their own instance. */
export const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  await fastify.register(core, opts);
  await fastify.register(infoRoutes, opts);
  await fastify.register(generationRoutes, opts);
  await fastify.register(responsesRoutes, opts);
  await fastify.register(messagesRoutes, opts);
  await fastify.register(embeddingRoutes, opts);
};
