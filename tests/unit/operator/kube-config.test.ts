import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPki, kubeconfig } from "../../../src/cli/local-cluster/pki.js";
import { KeepAliveKubeConfig } from "../../../src/operator/kube-config.js";

// A TLS server that asks for a client certificate, as the API server does, and counts handshakes.
describe("KeepAliveKubeConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "spillway-keepalive-"));
  let server: Server;
  let handshakes = 0;
  let file = "";

  beforeAll(async () => {
    const pki = createPki(join(dir, "pki"), ["IP:127.0.0.1"]);
    server = createServer(
      {
        cert: readFileSync(pki.serverCert),
        key: readFileSync(pki.serverKey),
        ca: readFileSync(pki.caCert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } }));
      },
    );
    server.on("secureConnection", () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
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
    expect(await handshakesFor(new KeepAliveKubeConfig(), 10)).toBe(1);
  });

  it("where the library's own KubeConfig opens a connection per request", async () => {
    expect(await handshakesFor(new KubeConfig(), 10)).toBe(10);
  });
});
