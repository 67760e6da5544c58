import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";

/**
 * A JSON POST to a pod's port through the API server's proxy, with the kubeconfig's credentials: how an
 * operator reaches one pod with no address of the cluster reachable from where it runs. (`kubectl create
 * --raw` sends no Content-Type, which the inference server refuses.) Resolves with the pod's answer
 * whatever its status; rejects when the API server cannot be reached or the request times out.
 */
export async function postToPod(
  kubeconfig: string,
  to: { namespace: string; pod: string; port: number; path: string },
  body: unknown,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${kubeconfig} names no current cluster`);
  const url = new URL(
    `${server.replace(/\/$/, "")}/api/v1/namespaces/${to.namespace}/pods/${to.pod}:${to.port}/proxy${to.path}`,
  );
  const options: RequestOptions = {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    timeout: timeoutMs,
  };
  await kc.applyToHTTPSOptions(options);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on("error", reject);
    req.end(payload);
  });
}
