import { createHash, timingSafeEqual } from "node:crypto";
import type {
  FastifyError,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
} from "fastify";
import fp from "fastify-plugin";
import { ApiError, errorBody, errors } from "./errors.js";
import { embeddingRoutes } from "./routes/embeddings.js";
import { generationRoutes } from "./routes/generation.js";
import { infoRoutes } from "./routes/info.js";
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
  /** When set, every /v1 route requires `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
}

/** `/messages/0/role` → `messages[0].role`, the way OpenAI names parameters. */
function paramName(instancePath: string, missing?: string): string {
  const parts = instancePath.split("/").filter(Boolean);
  if (missing) parts.push(missing);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

function toApiError(err: FastifyError): ApiError {
  if (err instanceof ApiError) return err;
  if (err.validation?.length) {
    // Unions report one error per branch; the most specific one (deepest path) names the field best.
    const v = [...err.validation].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
    if (v) {
      const missing =
        v.keyword === "required"
          ? String((v.params as { missingProperty?: string }).missingProperty)
          : undefined;
      const param = paramName(v.instancePath, missing);
      const allowed = (v.params as { allowedValues?: unknown[] }).allowedValues;
      const detail = allowed
        ? `must be one of ${allowed.map((a) => `'${String(a)}'`).join(", ")}`
        : (v.message ?? "invalid");
      const message = missing
        ? `Missing required parameter: '${param}'.`
        : `Invalid value for '${param}': ${detail}.`;
      return errors.invalidRequest(message, param || null);
    }
  }
  switch (err.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return errors.invalidRequest(
        `We could not parse the JSON body of your request: ${err.message}. The body must be valid JSON.`,
      );
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError(
        413,
        "invalid_request_error",
        "request_too_large",
        "The request body is too large.",
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return errors.invalidRequest("Content-Type must be application/json.");
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new ApiError(err.statusCode, "invalid_request_error", null, err.message);
  }
  return new ApiError(500, "server_error", null, "The server had an error while processing your request.");
}

/** Sends an OpenAI-style error; 5xx causes go to the log, not to the client. */
export function sendError(reply: FastifyReply, request: FastifyRequest, err: unknown): FastifyReply {
  const api = toApiError(err as FastifyError);
  if (api.statusCode >= 500 && api.code !== "not_ready" && api.code !== "timeout") {
    request.log.error({ err }, "request failed");
  }
  if (api.retryAfter !== undefined) void reply.header("retry-after", String(api.retryAfter));
  return reply.code(api.statusCode).send(errorBody(api));
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
      const header = request.headers.authorization;
      const token = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
      if (!token) {
        next(errors.unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."));
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
  await fastify.register(embeddingRoutes, opts);
};
