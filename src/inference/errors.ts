/**
 * Coded API errors, rendered by the app's one error handler as OpenAI-style bodies:
 * `{"error": {"message", "type", "param", "code"}}`. 5xx details are logged, never sent.
 */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error"
  | "service_unavailable";

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: ErrorType,
    readonly code: string | null,
    message: string,
    readonly param: string | null = null,
    /** Seconds, sent as Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const errors = {
  invalidRequest: (message: string, param: string | null = null, code: string | null = null) =>
    new ApiError(400, "invalid_request_error", code, message, param),
  contextLengthExceeded: (promptTokens: number, maxTokens: number, contextSize: number, param: string) =>
    new ApiError(
      400,
      "invalid_request_error",
      "context_length_exceeded",
      `This model's maximum context length is ${contextSize} tokens. However, you requested ` +
        `${promptTokens + maxTokens} tokens (${promptTokens} in the prompt, ${maxTokens} for the completion). ` +
        "Please reduce the prompt or max_tokens.",
      param,
    ),
  unauthorized: (message: string) => new ApiError(401, "authentication_error", "invalid_api_key", message),
  modelNotFound: (model: string) =>
    new ApiError(404, "not_found_error", "model_not_found", `The model '${model}' does not exist`, "model"),
  routeNotFound: (method: string, url: string) =>
    new ApiError(404, "not_found_error", null, `Unknown route: ${method} ${url}`),
  queueFull: (retryAfter: number) =>
    new ApiError(
      429,
      "rate_limit_error",
      "queue_full",
      "The server is at capacity: every slot is busy and the queue is full. Retry later.",
      null,
      retryAfter,
    ),
  notReady: (why: string) => new ApiError(503, "service_unavailable", "not_ready", why, null, 1),
  timeout: (seconds: number) =>
    new ApiError(
      503,
      "service_unavailable",
      "timeout",
      `The request did not complete within ${seconds}s`,
      null,
      1,
    ),
};

export function errorBody(e: ApiError) {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

/** A chat-path name and what another API calls it. */
export type Rename = readonly [from: RegExp, to: string];

/**
 * The error in another API's terms. A request translated onto the chat path can fail there, in the chat
 * API's names (`response_format`, `tools[0].function.parameters`); each rule rewrites such a name in the
 * error's param and message. Anything that is not an ApiError with a param passes unchanged.
 */
export function renamed(err: unknown, rules: readonly Rename[]): unknown {
  if (!(err instanceof ApiError) || err.param === null) return err;
  const rename = (s: string) => rules.reduce((acc, [from, to]) => acc.replace(from, to), s);
  return new ApiError(
    err.statusCode,
    err.type,
    err.code,
    rename(err.message),
    rename(err.param),
    err.retryAfter,
  );
}
