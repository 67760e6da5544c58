import type { ApiError } from "../errors.js";

/**
 * Errors as Anthropic sends them: `{"type": "error", "error": {"type", "message"}, "request_id"}`, with
 * the same status codes as the OpenAI-style routes. The message names the field, as the OpenAI-style
 * errors do.
 */

function errorType(err: ApiError): string {
  if (err.code === "timeout") return "timeout_error";
  switch (err.statusCode) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
  }
  return err.statusCode >= 500 ? "api_error" : "invalid_request_error";
}

export function messagesErrorBody(err: ApiError, requestId: string | null) {
  return {
    type: "error" as const,
    error: { type: errorType(err), message: err.message },
    request_id: requestId,
  };
}
