import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";

/**
 * The status code of a GET to a local component, or 0 when nothing answers: what health polls need.
 * `target` is a URL or a Unix socket path; `tls` adds CA and client certificates for https.
 */
export function httpStatus(
  target: string | { socketPath: string; path: string },
  tls: Pick<RequestOptions, "ca" | "cert" | "key" | "rejectUnauthorized"> = {},
  timeoutMs = 2000,
): Promise<number> {
  return new Promise((resolvePromise) => {
    const https = typeof target === "string" && target.startsWith("https:");
    const onResponse = (res: { statusCode?: number; resume: () => void }) => {
      res.resume();
      resolvePromise(res.statusCode ?? 0);
    };
    const req =
      typeof target === "string"
        ? (https ? httpsRequest : httpRequest)(target, { ...tls, timeout: timeoutMs }, onResponse)
        : httpRequest({ ...target, timeout: timeoutMs }, onResponse);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => {
      resolvePromise(0);
    });
    req.end();
  });
}
