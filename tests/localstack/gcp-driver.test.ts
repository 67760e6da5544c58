import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BurstPoolSpec } from "../../src/api/burst-pool.js";
import { GcpPoolDriver } from "../../src/operator/pools/gcp.js";

// There is no Compute Engine emulator: this server answers the three calls the driver makes with the
// request and response bodies of the Compute API reference (v1 regionInstanceGroupManagers get,
// listManagedInstances, resize, deleteInstances), and records what it was sent.
const project = "spillway-test";
const region = "europe-west4";
const base = `/projects/${project}/regions/${region}/instanceGroupManagers/spot`;
const vm = (name: string, currentAction: string, instanceStatus: string) => ({
  instance: `https://www.googleapis.com/compute/v1/projects/${project}/zones/${region}-a/instances/${name}`,
  id: "1234567890123456789",
  instanceStatus,
  currentAction,
  version: { instanceTemplate: `projects/${project}/global/instanceTemplates/spot`, name: "" },
});
const operation = (op: string) => ({
  kind: "compute#operation",
  id: "987654321",
  name: `operation-${op}`,
  operationType: op,
  status: "RUNNING",
  progress: 0,
  region: `https://www.googleapis.com/compute/v1/projects/${project}/regions/${region}`,
});

let targetSize = 2;
let failNext = 0;
const seen: { method: string; url: string; body: unknown }[] = [];
const server = createServer((req: IncomingMessage, res) => {
  let raw = "";
  req.on("data", (d: Buffer) => (raw += d.toString()));
  req.on("end", () => {
    const url = new URL(req.url ?? "/", "http://x");
    seen.push({ method: req.method ?? "", url: req.url ?? "", body: raw ? JSON.parse(raw) : undefined });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    if (failNext > 0) {
      failNext--;
      send(503, { error: { code: 503, message: "backend unavailable", errors: [] } });
      return;
    }
    if (req.method === "GET" && url.pathname === base) {
      send(200, { kind: "compute#instanceGroupManager", name: "spot", targetSize, region });
      return;
    }
    if (req.method === "POST" && url.pathname === `${base}/listManagedInstances`) {
      send(200, {
        managedInstances: [
          vm("spot-a1", "NONE", "RUNNING"),
          vm("spot-a2", "CREATING", "PROVISIONING"),
          vm("spot-a3", "DELETING", "STOPPING"),
        ],
      });
      return;
    }
    if (req.method === "POST" && url.pathname === `${base}/resize`) {
      targetSize = Number(url.searchParams.get("size"));
      send(200, operation("compute.regionInstanceGroupManagers.resize"));
      return;
    }
    if (req.method === "POST" && url.pathname === `${base}/deleteInstances`) {
      send(200, operation("compute.regionInstanceGroupManagers.deleteInstances"));
      return;
    }
    if (
      req.method === "GET" &&
      url.pathname.startsWith(`/projects/${project}/regions/${region}/instanceGroupManagers/`)
    ) {
      send(404, { error: { code: 404, message: "The resource 'missing' was not found", errors: [] } });
      return;
    }
    send(400, { error: { code: 400, message: `unexpected ${req.method} ${url.pathname}` } });
  });
});
let driver: GcpPoolDriver;
const pool: BurstPoolSpec = {
  provider: "gcp",
  project,
  region,
  group: "spot",
  nodeCapacity: { cpu: 8, memory: "32Gi" },
  minNodes: 0,
  maxNodes: 4,
  hourlyPriceUsd: 0.1,
};

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  driver = new GcpPoolDriver({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    timeoutMs: 2000,
  });
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe("GCP managed instance group driver (Compute API REST shapes)", () => {
  it("reads the target size and each VM's state from listManagedInstances", async () => {
    expect(await driver.describe(pool)).toEqual({
      desired: 2,
      instances: [
        { id: "spot-a1", state: "running" },
        { id: "spot-a2", state: "pending" },
        { id: "spot-a3", state: "terminating" },
      ],
    });
  });

  it("resizes with a requestId that a retry after a 503 reuses", async () => {
    seen.length = 0;
    failNext = 1;
    await driver.setDesired(pool, 3);
    expect(targetSize).toBe(3);
    const calls = seen.filter((c) => c.url.includes("/resize"));
    expect(calls).toHaveLength(2);
    const ids = calls.map((c) => new URL(c.url, "http://x").searchParams.get("requestId"));
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[1]).toBe(ids[0]);
  });

  it("deletes one named VM by its URL, never an arbitrary one", async () => {
    seen.length = 0;
    await driver.terminate(pool, "spot-a1");
    const call = seen.find((c) => c.url.includes("/deleteInstances"));
    expect(call?.body).toEqual({
      instances: [
        `https://www.googleapis.com/compute/v1/projects/${project}/zones/${region}-a/instances/spot-a1`,
      ],
      skipInstancesOnValidationError: true,
    });
  });

  it("names the cause when the group does not exist", async () => {
    await expect(driver.describe({ ...pool, group: "missing" })).rejects.toThrow(
      /404 The resource 'missing' was not found/,
    );
  });
});
