import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { parsePrometheusText, sumOf } from "../../src/lib/prometheus-text.js";

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

/**
 * Completions (chat and text) a Spillway server answered with 200, from its own /metrics: what a burst
 * replica served, without the probes and scrapes that count as requests too.
 */
export async function completionsAnswered(base: string): Promise<number> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
  const samples = parsePrometheusText(await res.text());
  return ["/v1/chat/completions", "/v1/completions"]
    .map((route) => sumOf(samples, "spillway_inference_requests_total", { route, status: "200" }))
    .reduce((a, b) => a + b, 0);
}
