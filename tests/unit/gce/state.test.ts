import { beforeEach, describe, expect, it } from "vitest";
import { ComputeState, GceError } from "../../../testbed/gce/state.js";

// The Compute stand-in's state on a fake clock: every transition is a step the clock makes due.
const P = "p";
const R = "europe-west4";
const RID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
let now: number;
let state: ComputeState;
const advance = (ms: number) => (now += ms);
const seq = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
};
const vms = () => state.members(state.group(P, R, "spot"));
const view = () => vms().map((v) => `${v.name}@${v.zone} ${v.status}/${v.action}`);

beforeEach(() => {
  now = 1_000_000;
  state = new ComputeState({
    now: () => now,
    graceMs: 30_000,
    bootMs: 1000,
    stopMs: 500,
    operationMs: 100,
    // Suffixes aaaa, bbbb, cccc, ... (one letter per name).
    random: seq([
      0,
      0,
      0,
      0,
      1 / 36,
      1 / 36,
      1 / 36,
      1 / 36,
      2 / 36,
      2 / 36,
      2 / 36,
      2 / 36,
      3 / 36,
      3 / 36,
      3 / 36,
      3 / 36,
    ]),
  });
  state.insertTemplate(P, {
    name: "t",
    properties: { machineType: "e2-standard-8", scheduling: { provisioningModel: "SPOT" } },
  });
  state.insertGroup(P, R, {
    name: "spot",
    baseInstanceName: "spot",
    targetSize: 0,
    instanceTemplate: "global/instanceTemplates/t",
  });
});

describe("Compute stand-in state", () => {
  it("resize creates <base>-xxxx VMs spread over the zones, which boot PROVISIONING → STAGING → RUNNING", () => {
    state.resize(P, R, "spot", 3);
    expect(view()).toEqual([
      "spot-aaaa@europe-west4-a PROVISIONING/CREATING",
      "spot-bbbb@europe-west4-b PROVISIONING/CREATING",
      "spot-cccc@europe-west4-c PROVISIONING/CREATING",
    ]);
    advance(500);
    expect(vms().map((v) => v.status)).toEqual(["STAGING", "STAGING", "STAGING"]);
    advance(500);
    expect(vms().map((v) => `${v.status}/${v.action}`)).toEqual([
      "RUNNING/NONE",
      "RUNNING/NONE",
      "RUNNING/NONE",
    ]);
    expect(state.group(P, R, "spot").targetSize).toBe(3);
  });

  it("resize down gives up the VMs that are not running yet first", () => {
    state.resize(P, R, "spot", 1);
    advance(1000);
    state.resize(P, R, "spot", 2);
    state.resize(P, R, "spot", 1);
    expect(view()).toEqual([
      "spot-aaaa@europe-west4-a RUNNING/NONE",
      "spot-bbbb@europe-west4-b STOPPING/DELETING",
    ]);
    advance(500);
    expect(view()).toEqual(["spot-aaaa@europe-west4-a RUNNING/NONE"]);
  });

  it("deleteInstances deletes exactly the named VM and lowers the target size", () => {
    state.resize(P, R, "spot", 3);
    advance(1000);
    state.deleteInstances(P, R, "spot", {
      instances: [
        "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west4-b/instances/spot-bbbb",
      ],
    });
    expect(state.group(P, R, "spot").targetSize).toBe(2);
    expect(view()).toContain("spot-bbbb@europe-west4-b STOPPING/DELETING");
    advance(500);
    expect(vms().map((v) => v.name)).toEqual(["spot-aaaa", "spot-cccc"]);
  });

  it("deleteInstances of a VM not in the group fails, unless told to skip it", () => {
    state.resize(P, R, "spot", 1);
    const other = { instances: ["zones/europe-west4-a/instances/elsewhere"] };
    expect(() => state.deleteInstances(P, R, "spot", other)).toThrow(/is not a member of/);
    state.deleteInstances(P, R, "spot", { ...other, skipInstancesOnValidationError: true });
    expect(state.group(P, R, "spot").targetSize).toBe(1);
  });

  it("a requestId makes a retried mutation return the same operation, applied once", () => {
    state.resize(P, R, "spot", 2);
    advance(1000);
    const body = { instances: ["projects/p/zones/europe-west4-a/instances/spot-aaaa"] };
    const first = state.deleteInstances(P, R, "spot", body, RID);
    const retry = state.deleteInstances(P, R, "spot", body, RID);
    expect(retry).toBe(first);
    expect(state.group(P, R, "spot").targetSize).toBe(1);
    expect(() => state.resize(P, R, "spot", 1, "not-a-uuid")).toThrow(/must be a valid UUID/);
  });

  it("operations are RUNNING until their delay passes", () => {
    const op = state.resize(P, R, "spot", 1);
    expect(state.getOperation(P, { region: R }, op.name)).toBe(op);
    expect(op.done).toBe(now + 100);
    expect(() => state.getOperation(P, { region: R }, "operation-x")).toThrow(
      "The resource 'projects/p/regions/europe-west4/operations/operation-x' was not found",
    );
  });

  it("preemption: preempted and soft off at once, TERMINATED after the grace, then the group recreates it", () => {
    state.resize(P, R, "spot", 1);
    advance(1000);
    const id = vms()[0]?.id;
    state.preempt(P, "europe-west4-a", "spot-aaaa");
    const vm = () => state.instance(P, "europe-west4-a", "spot-aaaa");
    expect([vm().preempted, vm().status, vm().action]).toEqual([true, "STOPPING", "NONE"]);
    advance(29_999);
    expect(vm().status).toBe("STOPPING");
    advance(1);
    expect([vm().status, vm().action]).toEqual(["TERMINATED", "RECREATING"]);
    advance(500);
    expect([vm().preempted, vm().status, vm().action]).toEqual([false, "PROVISIONING", "RECREATING"]);
    expect(vm().id).not.toBe(id);
    advance(1000);
    expect([vm().status, vm().action]).toEqual(["RUNNING", "NONE"]);
    expect(state.group(P, R, "spot").targetSize).toBe(1);
  });

  it("only a running spot VM is preempted", () => {
    state.resize(P, R, "spot", 1);
    expect(() => state.preempt(P, "europe-west4-a", "spot-aaaa")).toThrow(/only a running VM/);
    state.insertTemplate(P, { name: "standard", properties: { machineType: "e2-standard-8" } });
    state.insertGroup(P, R, {
      name: "base",
      targetSize: 1,
      instanceTemplate: "global/instanceTemplates/standard",
      distributionPolicy: { zones: [{ zone: "zones/europe-west4-a" }] },
    });
    advance(1000);
    const [vm] = state.members(state.group(P, R, "base"));
    expect(() => state.preempt(P, vm!.zone, vm!.name)).toThrow(/is not a spot VM/);
  });

  it("unknown resources are GCE's 404 with the resource's path", () => {
    const err = (() => {
      try {
        state.group(P, R, "x");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(GceError);
    expect(err).toMatchObject({
      code: 404,
      reason: "notFound",
      message: "The resource 'projects/p/regions/europe-west4/instanceGroupManagers/x' was not found",
    });
    expect(() => state.instance(P, "europe-west4-a", "nope")).toThrow(
      "The resource 'projects/p/zones/europe-west4-a/instances/nope' was not found",
    );
  });

  it("a group names its zones, or takes the region's -a, -b, -c; its template must exist", () => {
    state.insertGroup(P, R, {
      name: "one-zone",
      targetSize: 2,
      instanceTemplate: "projects/p/global/instanceTemplates/t",
      distributionPolicy: {
        zones: [{ zone: "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west4-b" }],
      },
    });
    const g = state.group(P, R, "one-zone");
    expect(state.members(g).map((v) => v.zone)).toEqual(["europe-west4-b", "europe-west4-b"]);
    expect(() =>
      state.insertGroup(P, R, {
        name: "x",
        targetSize: 0,
        instanceTemplate: "global/instanceTemplates/none",
      }),
    ).toThrow("The resource 'projects/p/global/instanceTemplates/none' was not found");
    expect(() =>
      state.insertGroup(P, R, {
        name: "spot",
        targetSize: 0,
        instanceTemplate: "global/instanceTemplates/t",
      }),
    ).toThrow(/already exists/);
  });
});
