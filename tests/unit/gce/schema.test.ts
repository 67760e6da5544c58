import { describe, expect, it } from "vitest";
import { loadDiscovery, methodsById, router } from "../../../testbed/gce/discovery.js";
import { checkBody, checkParameters, type Direction } from "../../../testbed/gce/schema.js";

// Google's own Compute API schema (`npm run tools` installs it): the checker is tested on the real thing.
const doc = loadDiscovery();
const methods = methodsById(doc);
const method = (id: string) => {
  const m = methods.get(id);
  if (!m) throw new Error(`${id} is not in the discovery document`);
  return m;
};
const url = "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west4-a/instances/spot-ab12";

describe("Compute schema checker: bodies", () => {
  const cases: {
    name: string;
    schema: string;
    body: unknown;
    direction?: Direction;
    methodId?: string;
    violations: [path: string, message: RegExp][];
  }[] = [
    {
      name: "a deleteInstances request as the pool driver sends it",
      schema: "RegionInstanceGroupManagersDeleteInstancesRequest",
      body: { instances: [url], skipInstancesOnValidationError: true },
      direction: "request",
      violations: [],
    },
    {
      name: "an unknown field",
      schema: "RegionInstanceGroupManagersDeleteInstancesRequest",
      body: { instances: [url], skipInstancesOnValidationErrors: true },
      direction: "request",
      violations: [["skipInstancesOnValidationErrors", /unknown field/]],
    },
    {
      name: "a wrong enum value, deep in an array",
      schema: "RegionInstanceGroupManagersListInstancesResponse",
      body: { managedInstances: [{ instance: url, instanceStatus: "RUNNING", currentAction: "BOOTING" }] },
      violations: [["managedInstances[0].currentAction", /'BOOTING' is not one of .*CREATING/]],
    },
    {
      name: "a uint64 id as a JSON number in a response",
      schema: "Operation",
      body: { kind: "compute#operation", id: 123, status: "DONE" },
      violations: [["id", /expected string \(uint64\), got number/]],
    },
    {
      name: "a uint64 id as a JSON number in a request (proto3 JSON reads it)",
      schema: "Operation",
      body: { id: 123 },
      direction: "request",
      violations: [],
    },
    {
      name: "an int32 as a string in a response",
      schema: "InstanceGroupManager",
      body: { name: "spot", targetSize: "3" },
      violations: [["targetSize", /expected integer \(int32\), got string/]],
    },
    {
      name: "an int32 out of range",
      schema: "InstanceGroupManager",
      body: { targetSize: 2 ** 31 },
      violations: [["targetSize", /out of range for int32/]],
    },
    {
      name: "a wrong type and an object where a string belongs",
      schema: "Instance",
      body: { name: ["a"], scheduling: { provisioningModel: "SPOT", automaticRestart: "no" } },
      violations: [
        ["name", /expected string, got an array/],
        ["scheduling.automaticRestart", /expected boolean, got string/],
      ],
    },
    {
      name: "a SPOT instance's scheduling and metadata",
      schema: "Instance",
      body: {
        kind: "compute#instance",
        id: "4000000000000000001",
        status: "STOPPING",
        scheduling: { provisioningModel: "SPOT", instanceTerminationAction: "DELETE", preemptible: true },
        metadata: {
          kind: "compute#metadata",
          fingerprint: "YWJj",
          items: [{ key: "user-data", value: "x" }],
        },
        labels: { pool: "spot" },
      },
      violations: [],
    },
    {
      name: "a map value of the wrong type, a metadata key off its pattern",
      schema: "Instance",
      body: { labels: { pool: 1 }, metadata: { items: [{ key: "bad key", value: "v" }] } },
      violations: [
        ["labels.pool", /expected string, got number/],
        ["metadata.items[0].key", /does not match/],
      ],
    },
    {
      name: "null: unset in a request, never sent in a response",
      schema: "Metadata",
      body: { fingerprint: null },
      violations: [["fingerprint", /null/]],
    },
    {
      name: "the fields a method requires (name and targetSize for a regional MIG insert)",
      schema: "InstanceGroupManager",
      body: { baseInstanceName: "spot" },
      direction: "request",
      methodId: "compute.regionInstanceGroupManagers.insert",
      violations: [
        ["name", /required by compute.regionInstanceGroupManagers.insert/],
        ["targetSize", /required by compute.regionInstanceGroupManagers.insert/],
      ],
    },
    {
      name: "an enum in a nested $ref (a template's scheduling)",
      schema: "InstanceTemplate",
      body: {
        name: "t",
        properties: { machineType: "e2-standard-8", scheduling: { provisioningModel: "CHEAP" } },
      },
      direction: "request",
      methodId: "compute.instanceTemplates.insert",
      violations: [["properties.scheduling.provisioningModel", /'CHEAP' is not one of .*SPOT/]],
    },
  ];
  it.each(cases)("$name", ({ schema, body, direction, methodId, violations }) => {
    const got = checkBody(doc, schema, body, {
      direction: direction ?? "response",
      ...(methodId ? { methodId } : {}),
    });
    expect(got.map((v) => v.path)).toEqual(violations.map(([path]) => path));
    violations.forEach(([, message], i) => {
      expect(got[i]?.message).toMatch(message);
    });
  });

  it("names a schema the document does not have", () => {
    expect(checkBody(doc, "NoSuchSchema", {}, { direction: "request" })).toEqual([
      { path: "", message: "schema NoSuchSchema is not in the discovery document" },
    ]);
  });
});

describe("Compute schema checker: parameters", () => {
  const resize = method("compute.regionInstanceGroupManagers.resize");
  const path = { project: "p", region: "europe-west4", instanceGroupManager: "spot" };
  const rid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
  const cases: {
    name: string;
    query: string;
    path?: Record<string, string>;
    violations: [string, RegExp][];
  }[] = [
    {
      name: "size and requestId, as the pool driver sends them",
      query: `size=3&requestId=${rid}`,
      violations: [],
    },
    { name: "system parameters are allowed", query: "size=3&prettyPrint=false&alt=json", violations: [] },
    {
      name: "size is required",
      query: `requestId=${rid}`,
      violations: [["size", /required query parameter/]],
    },
    { name: "size is an int32", query: "size=three", violations: [["size", /not an integer/]] },
    {
      name: "an unknown parameter",
      query: "size=1&targetSize=1",
      violations: [["targetSize", /unknown query parameter/]],
    },
    { name: "a parameter given twice", query: "size=1&size=2", violations: [["size", /more than once/]] },
    {
      name: "a system parameter's enum",
      query: "size=1&alt=xml",
      violations: [["alt", /'xml' is not one of/]],
    },
    {
      name: "a path parameter off its pattern",
      query: "size=1",
      path: { ...path, project: "My_Project" },
      violations: [["project", /does not match/]],
    },
  ];
  it.each(cases)("$name", ({ query, path: p, violations }) => {
    const got = checkParameters(doc, resize, { path: p ?? path, query: new URLSearchParams(query) });
    expect(got.map((v) => v.path)).toEqual(violations.map(([name]) => name));
    violations.forEach(([, message], i) => {
      expect(got[i]?.message).toMatch(message);
    });
  });
});

describe("routes from the document's path templates", () => {
  const route = router(doc);
  it.each([
    ["GET", "projects/p/regions/r/instanceGroupManagers/spot", "compute.regionInstanceGroupManagers.get"],
    [
      "POST",
      "projects/p/regions/r/instanceGroupManagers/spot/resize",
      "compute.regionInstanceGroupManagers.resize",
    ],
    [
      "POST",
      "projects/p/regions/r/instanceGroupManagers/spot/listManagedInstances",
      "compute.regionInstanceGroupManagers.listManagedInstances",
    ],
    ["POST", "projects/p/regions/r/operations/operation-1/wait", "compute.regionOperations.wait"],
    // A literal segment wins over a parameter: bulkInsert is not an instance named bulkInsert.
    ["POST", "projects/p/zones/z/instances/bulkInsert", "compute.instances.bulkInsert"],
    ["GET", "projects/p/zones/z/instances/spot-ab12", "compute.instances.get"],
  ])("%s %s → %s", (httpMethod, path, id) => {
    expect(route(httpMethod, path)?.method.id).toBe(id);
  });

  it("gives the path parameters, and nothing for a path the API does not have", () => {
    expect(route("POST", "projects/p/regions/r/instanceGroupManagers/spot/deleteInstances")?.params).toEqual({
      project: "p",
      region: "r",
      instanceGroupManager: "spot",
    });
    expect(route("GET", "projects/p/regions/r/instanceGroupManagerz/spot")).toBeUndefined();
  });
});
