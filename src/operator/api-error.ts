import { ApiException } from "@kubernetes/client-node";

/**
 * The HTTP status a Kubernetes API call failed with (404, 409, 429…), or undefined when the error is not
 * the API server's answer: a socket error's `code` is a string, and a bug's has none, so neither may pass
 * for a status.
 */
export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}
