import type { FastifyReply } from "fastify";
import { ApiError, errors } from "../errors.js";
import type { Runtime } from "../runtime.js";

/** The client went away: nothing is left to answer, only work to stop. */
export class ClientGone extends Error {
  override name = "ClientGone";
}

export interface RequestScope {
  /** Aborts with ClientGone when the client disconnects, or with a TimeoutError at the request timeout. */
  signal: AbortSignal;
  /** What a failure means for the client: ClientGone, the timeout as an ApiError, or the error itself. */
  cause: (err: unknown) => unknown;
  /** Clears the timer and the listener and marks the request done (for drain). */
  end: () => void;
}

/**
 * What a request that takes a slot needs around its work, counted as in flight. One controller and one
 * cleared timer per request: AbortSignal.timeout and AbortSignal.any kept every request's signals and
 * listeners alive for the whole timeout (`npm run soak` measured the heap growing by ~2 KB a request).
 */
export function requestScope(runtime: Runtime, reply: FastifyReply, timeoutSeconds: number): RequestScope {
  const abort = new AbortController();
  const { signal } = abort;
  const onClose = () => {
    if (!reply.raw.writableFinished) abort.abort(new ClientGone("client disconnected"));
  };
  reply.raw.once("close", onClose);
  const timer = setTimeout(() => {
    abort.abort(new DOMException(`no answer within ${timeoutSeconds} s`, "TimeoutError"));
  }, timeoutSeconds * 1000);
  const done = runtime.track();
  return {
    signal,
    cause: (err) => {
      const reason = signal.aborted ? (signal.reason as unknown) : err;
      if (reason instanceof DOMException && reason.name === "TimeoutError")
        return errors.timeout(timeoutSeconds);
      return reason instanceof ClientGone || reason instanceof ApiError ? reason : err;
    },
    end: () => {
      clearTimeout(timer);
      reply.raw.off("close", onClose);
      done();
    },
  };
}
