import { beforeEach, describe, expect, it } from "vitest";
import { HANDLERS } from "../../../testbed/gce/api.js";
import { loadDiscovery } from "../../../testbed/gce/discovery.js";
import { ComputeService } from "../../../testbed/gce/service.js";
import { ComputeState } from "../../../testbed/gce/state.js";

// One Compute API call through the stand-in's checks, without sockets.
const doc = loadDiscovery();
const MIG = "projects/p/regions/europe-west4/instanceGroupManagers/spot";
const RID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
let service: ComputeService;
let now: number;
const call = (method: string, path: string, query = "", body?: unknown) =>
  service.call(method, path, new URLSearchParams(query), body === undefined ? "" : JSON.stringify(body));

const fresh = (handlers = HANDLERS) => {
  now = 1_000_000;
  const state = new ComputeState({
    now: () => now,
    graceMs: 30_000,
    bootMs: 1000,
    stopMs: 500,
    operationMs: 0,
    random: Math.random,
  });
  service = new ComputeService(doc, state, handlers);
};

beforeEach(async () => {
  fresh();
  await call("POST", "projects/p/global/instanceTemplates", "", {
    name: "t",
    properties: { machineType: "e2-standard-8", scheduling: { provisioningModel: "SPOT" } },
  });
  await call("POST", "projects/p/regions/europe-west4/instanceGroupManagers", "", {
    name: "spot",
    targetSize: 1,
    instanceTemplate: "global/instanceTemplates/t",
  });
});

describe("Compute stand-in calls", () => {
  it("answers with bodies that pass Google's schema, and records nothing", async () => {
    const got = await call("GET", MIG);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ kind: "compute#instanceGroupManager", name: "spot", targetSize: 1 });
    expect((await call("POST", `${MIG}/listManagedInstances`)).status).toBe(200);
    expect((await call("POST", `${MIG}/resize`, `size=2&requestId=${RID}`)).body).toMatchObject({
      kind: "compute#operation",
      operationType: "compute.regionInstanceGroupManagers.resize",
      status: "DONE",
    });
    expect(service.violations()).toEqual([]);
  });

  it("a request that breaks the schema is a 400 in Google's error shape naming the field, and recorded", async () => {
    const got = await call("POST", `${MIG}/deleteInstances`, "", { instances: "spot-aaaa" });
    expect(got).toEqual({
      status: 400,
      body: {
        error: {
          code: 400,
          message: "Invalid value at 'instances': expected an array, got string 'spot-aaaa'",
          errors: [
            {
              message: "'instances': expected an array, got string 'spot-aaaa'",
              domain: "global",
              reason: "invalid",
            },
          ],
        },
      },
    });
    expect(service.violations()).toEqual([
      {
        side: "request",
        call: "compute.regionInstanceGroupManagers.deleteInstances",
        path: "instances",
        message: "expected an array, got string 'spot-aaaa'",
      },
    ]);
  });

  it("resize without size, a body that is not JSON, a body a method does not take: 400s", async () => {
    expect((await call("POST", `${MIG}/resize`)).body).toMatchObject({
      error: { message: "Invalid value at 'size': required query parameter is missing" },
    });
    expect((await service.call("POST", `${MIG}/deleteInstances`, new URLSearchParams(), "{")).status).toBe(
      400,
    );
    expect((await call("GET", MIG, "", { targetSize: 3 })).status).toBe(400);
    expect((await call("POST", `${MIG}/deleteInstances`)).body).toMatchObject({
      error: { message: /a request body \(RegionInstanceGroupManagersDeleteInstancesRequest\) is required/ },
    });
  });

  it("a response that would break the schema is a 500, and recorded as the stand-in's", async () => {
    fresh({
      ...HANDLERS,
      "compute.regionInstanceGroupManagers.get": () => ({
        kind: "compute#instanceGroupManager",
        targetSize: "3",
      }),
    });
    const got = await call("GET", MIG);
    expect(got.status).toBe(500);
    expect(JSON.stringify(got.body)).toContain("'targetSize': expected integer (int32), got string '3'");
    expect(service.violations()).toEqual([
      {
        side: "response",
        call: "compute.regionInstanceGroupManagers.get",
        path: "targetSize",
        message: "expected integer (int32), got string '3'",
      },
    ]);
  });

  it("unknown paths are 404s; methods the stand-in does not emulate are 501s", async () => {
    expect((await call("GET", "projects/p/regions/r/nothingHere")).status).toBe(404);
    expect((await call("POST", "projects/p/zones/z/instances/x/start")).body).toMatchObject({
      error: { code: 501, message: "compute.instances.start is not emulated by the Compute stand-in" },
    });
  });

  it("injected faults: before the call, or after it is applied (a lost response)", async () => {
    service.failNext(1, { status: 503 });
    expect((await call("POST", `${MIG}/resize`, "size=3")).status).toBe(503);
    expect((await call("GET", MIG)).body).toMatchObject({ targetSize: 1 });

    service.failNext(1, { status: 503, afterApply: true });
    expect((await call("POST", `${MIG}/resize`, `size=3&requestId=${RID}`)).status).toBe(503);
    expect((await call("GET", MIG)).body).toMatchObject({ targetSize: 3 });
  });

  it("credentials refused: GCE's 401 and 403 bodies", async () => {
    service.failNext(2, { status: 401 });
    expect((await call("GET", MIG)).body).toMatchObject({
      error: { code: 401, message: /invalid authentication credentials/, errors: [{ reason: "authError" }] },
    });
    service.failNext(1, { status: 403 });
    expect((await call("POST", `${MIG}/resize`, "size=1")).body).toMatchObject({
      error: {
        code: 403,
        message: `Required 'compute.instanceGroupManagers.update' permission for '${MIG}'`,
        errors: [{ reason: "forbidden" }],
      },
    });
  });

  it("records every call it was sent", async () => {
    await call("POST", `${MIG}/resize`, `size=2&requestId=${RID}`);
    expect(service.requests().at(-1)).toEqual({
      httpMethod: "POST",
      path: `${MIG}/resize`,
      query: { size: "2", requestId: RID },
      methodId: "compute.regionInstanceGroupManagers.resize",
      status: 200,
    });
  });
});
