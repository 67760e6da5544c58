import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPki, kubeconfig } from "../../../testbed/cluster/pki.js";
import { KeepAliveKubeConfig } from "../../../src/operator/kube-config.js";

// A TLS server that asks for a client certificate, as the API server does, and counts handshakes.
describe("KeepAliveKubeConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "spillway-keepalive-"));
  let server: Server;
  let handshakes = 0;
  let file = "";
  let pki: ReturnType<typeof createPki>;
  let port = 0;
  /** The client certificate's common name, per request. */
  const clients: string[] = [];

  beforeAll(async () => {
    pki = createPki(join(dir, "pki"), ["IP:127.0.0.1"]);
    server = createServer(
      {
        cert: readFileSync(pki.serverCert),
        key: readFileSync(pki.serverKey),
        ca: readFileSync(pki.caCert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        clients.push((req.socket as TLSSocket).getPeerCertificate().subject.CN);
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } }));
      },
    );
    server.on("secureConnection", () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
    file = join(dir, "kubeconfig");
    writeFileSync(file, kubeconfig(`https://127.0.0.1:${port}`, pki, "admin"));
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function handshakesFor(kc: KubeConfig, requests: number): Promise<number> {
    kc.loadFromFile(file);
    const core = kc.makeApiClient(CoreV1Api);
    const before = handshakes;
    for (let i = 0; i < requests; i++) {
      expect((await core.readNamespace({ name: "default" })).metadata?.name).toBe("default");
    }
    return handshakes - before;
  }

  it("sends sequential requests over one connection, with the kubeconfig's client certificate", async () => {
    clients.length = 0;
    expect(await handshakesFor(new KeepAliveKubeConfig(), 10)).toBe(1);
    expect(new Set(clients)).toEqual(new Set(["spillway-admin"]));
  });

  it("opens a new connection when the client certificate changes", async () => {
    const kc = new KeepAliveKubeConfig();
    expect(await handshakesFor(kc, 3)).toBe(1);
    clients.length = 0;
    const rotated = join(dir, "rotated.kubeconfig");
    writeFileSync(rotated, kubeconfig(`https://127.0.0.1:${port}`, pki, "kwok"));
    const before = handshakes;
    kc.loadFromFile(rotated);
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 3; i++) await core.readNamespace({ name: "default" });
    expect(handshakes - before).toBe(1);
    expect(clients).toEqual(["kwok-controller", "kwok-controller", "kwok-controller"]);
  });

  it("where the library's own KubeConfig opens a connection per request", async () => {
    expect(await handshakesFor(new KubeConfig(), 10)).toBe(10);
  });
});
