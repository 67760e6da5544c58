import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ApiError, errorBody, errors } from "./errors.js";

/** What every route's error handler sends: a coded error, a validation error or a fastify error, as a body. */

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

/**
 * Sends an error, OpenAI-style unless `body` renders it in another API's shape; 5xx causes go to the log,
 * not to the client.
 */
export function sendError(
  reply: FastifyReply,
  request: FastifyRequest,
  err: unknown,
  body: (e: ApiError) => unknown = errorBody,
): FastifyReply {
  const api = toApiError(err as FastifyError);
  if (api.statusCode >= 500 && api.code !== "not_ready" && api.code !== "timeout") {
    request.log.error({ err }, "request failed");
  }
  if (api.retryAfter !== undefined) void reply.header("retry-after", String(api.retryAfter));
  return reply.code(api.statusCode).send(body(api));
}
