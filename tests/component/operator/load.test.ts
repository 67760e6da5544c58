import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVER_METRICS } from "../../../src/api/server.js";
import { MetricsScraper } from "../../../src/operator/load.js";

// A pod's /metrics as the server writes it, on a loopback port standing in for the pod's address.
const body = [
  `${SERVER_METRICS.slotsBusy} 3`,
  `${SERVER_METRICS.queueDepth} 1`,
  `${SERVER_METRICS.generatedTokens}{route="chat"} 100`,
  `${SERVER_METRICS.modelInfo}{sha256="${"c".repeat(64)}"} 1`,
].join("\n");
const server = createServer((_req, res) => res.end(body));
let url = "";
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
});
afterAll(() => {
  server.close();
});

describe("metrics scraper", () => {
  it("reads slots, queue and the loaded model's digest from a pod's /metrics", async () => {
    const s = new MetricsScraper({ urlTemplate: url, timeoutMs: 1000 });
    expect(await s.scrape({ namespace: "n", name: "p", ip: "198.18.0.9" })).toMatchObject({
      readable: true,
      busySlots: 3,
      queueDepth: 1,
      digest: "c".repeat(64),
    });
  });

  it("reports a pod it cannot reach as unreadable, with no digest", async () => {
    const s = new MetricsScraper({ urlTemplate: "http://127.0.0.1:1/metrics", timeoutMs: 500 });
    const r = await s.scrape({ namespace: "n", name: "p", ip: "198.18.0.9" });
    expect(r.readable).toBe(false);
    expect(r.digest).toBeUndefined();
  });
});
