import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BurstPoolSpec } from "../../src/api/burst-pool.js";
import { GcpPoolDriver } from "../../src/operator/pools/gcp.js";
import {
  INSTANCE_HEADER,
  standInRoutes,
  startComputeStandIn,
  type ComputeStandIn,
} from "../../testbed/gce/server.js";
import { waitFor } from "../helpers/wait.js";

// The GCP pool driver against the Compute stand-in, whose every request and response is checked against
// Google's published Compute API schema: a group of spot VMs grows, loses one named VM, survives a lost
// response and refused credentials, and has a VM preempted and recreated. Boot and stop take a second each,
// so the states in between last long enough to be seen on a busy machine.
const project = "spillway-test";
const region = "europe-west4";
const pool: BurstPoolSpec = {
  provider: "gcp",
  project,
  region,
  group: "spot",
  nodeCapacity: { cpu: 8, memory: "32Gi" },
  minNodes: 0,
  maxNodes: 6,
  hourlyPriceUsd: 0.1,
};
let compute: ComputeStandIn;
let driver: GcpPoolDriver;

const vms = () => compute.instances(project, region, "spot");
const allRunning = () => vms().every((v) => v.instanceStatus === "RUNNING" && v.currentAction === "NONE");
const calls = (verb: string) => compute.requests().filter((c) => c.path.endsWith(`/${verb}`));
const api = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`${compute.apiRoot}/${path}`, init);
  return { status: res.status, body: (await res.json()) as any };
};

beforeAll(async () => {
  compute = await startComputeStandIn({ bootDelayMs: 1000, stopDelayMs: 1000, graceSeconds: 1 });
  await compute.createGroup({ project, region, name: "spot", targetSize: 2 });
  driver = new GcpPoolDriver({ endpoint: compute.apiRoot, timeoutMs: 2000 });
  await waitFor("the group's first two VMs running", allRunning, { timeoutMs: 5000, intervalMs: 50 });
});
afterAll(async () => {
  await compute.close();
});
afterEach(() => {
  // Nothing the driver sent, and nothing the stand-in answered, broke Google's schema. Cleared, so one
  // test's violation fails that test only.
  const violations = compute.violations();
  compute.clearViolations();
  expect(violations).toEqual([]);
});

describe("GCP managed instance group driver against the Compute stand-in", () => {
  it("describes the target size and each VM's state: running, being created, being deleted", async () => {
    const [first, second] = vms();
    await driver.setDesired(pool, 3);
    await driver.terminate(pool, first!.name);
    const created = vms().find((v) => v.currentAction === "CREATING");
    expect(await driver.describe(pool)).toEqual({
      desired: 2,
      instances: [
        { id: first!.name, state: "terminating" },
        { id: second!.name, state: "running" },
        { id: created!.name, state: "pending" },
      ],
    });
    expect(created!.name).toMatch(/^spot-[a-z0-9]{4}$/);
    await waitFor("the deleted VM gone and the new one running", () => vms().length === 2 && allRunning(), {
      timeoutMs: 5000,
      intervalMs: 50,
    });
  });

  it("resizes with a requestId that a retry after a lost response reuses: applied once", async () => {
    const resizesBefore = compute.operations().filter((o) => o.type.endsWith(".resize")).length;
    const callsBefore = calls("resize").length;
    // The first resize is applied and its answer lost (503): the retry must not apply it again.
    compute.failNext(1, 503, { afterApply: true });
    await driver.setDesired(pool, 4);

    const sent = calls("resize").slice(callsBefore);
    expect(sent.map((c) => c.status)).toEqual([503, 200]);
    expect(sent[0]!.query).toEqual({ size: "4", requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(sent[1]!.query).toEqual(sent[0]!.query);
    const resizes = compute.operations().filter((o) => o.type.endsWith(".resize"));
    expect(resizes).toHaveLength(resizesBefore + 1);
    expect(resizes.at(-1)!.requestId).toBe(sent[0]!.query.requestId);
    expect((await driver.describe(pool)).desired).toBe(4);
    expect(vms()).toHaveLength(4);
  });

  it("deleteInstances of one named VM removes exactly it and lowers the target size", async () => {
    await waitFor("four VMs running", allRunning, { timeoutMs: 5000, intervalMs: 50 });
    const before = vms();
    const victim = before[2]!;
    await driver.terminate(pool, victim.name);

    expect(calls("deleteInstances").at(-1)!.body).toEqual({
      instances: [victim.url],
      skipInstancesOnValidationError: true,
    });
    expect((await driver.describe(pool)).desired).toBe(3);
    await waitFor("the VM gone", () => !vms().some((v) => v.name === victim.name), {
      timeoutMs: 5000,
      intervalMs: 50,
    });
    expect(vms().map((v) => v.name)).toEqual(before.filter((v) => v !== victim).map((v) => v.name));
    expect(allRunning()).toBe(true);
  });

  it("names the group that does not exist, as GCE does", async () => {
    await expect(driver.describe({ ...pool, group: "missing" })).rejects.toThrow(
      `404 The resource 'projects/${project}/regions/${region}/instanceGroupManagers/missing' was not found`,
    );
  });

  it("says credentials were refused (401 and 403), without retrying them", async () => {
    const before = compute.requests().length;
    compute.failNext(1, 401);
    await expect(driver.describe(pool)).rejects.toThrow(/^401 credentials refused: .*invalid authentication/);
    compute.failNext(1, 403);
    await expect(driver.setDesired(pool, 5)).rejects.toThrow(
      `403 credentials refused: Required 'compute.instanceGroupManagers.update' permission for 'projects/${project}/regions/${region}/instanceGroupManagers/spot'`,
    );
    expect(compute.requests().length - before).toBe(2);
    expect((await driver.describe(pool)).desired).toBe(3);
  });

  it("a preempted VM: preempted=TRUE with the soft off, TERMINATED after the grace, recreated by its group", async () => {
    const vm = vms()[0]!;
    const metadata = (query = "", flavor = "Google") =>
      fetch(`${compute.url}/computeMetadata/v1/instance/preempted${query}`, {
        headers: {
          [INSTANCE_HEADER]: `projects/${project}/zones/${vm.zone}/instances/${vm.name}`,
          "Metadata-Flavor": flavor,
        },
      });
    expect(await (await metadata()).text()).toBe("FALSE");
    expect((await metadata("", "")).status).toBe(403);
    // A shutdown script's wait for the notice, as on a real VM.
    const notice = metadata("?wait_for_change=true&timeout_sec=10").then((r) => r.text());

    const preempt = await fetch(`${compute.url}/spillway-testbed/preempt`, {
      method: "POST",
      body: JSON.stringify({ project, zone: vm.zone, instance: vm.name }),
    });
    expect(preempt.status).toBe(200);
    expect(await notice).toBe("TRUE");
    const seen: string[] = [];
    const managed = async () => {
      const list = await api(
        `projects/${project}/regions/${region}/instanceGroupManagers/spot/listManagedInstances`,
        {
          method: "POST",
        },
      );
      const m = (list.body.managedInstances as any[]).find((i) => i.name === vm.name);
      const state = `${m.instanceStatus}/${m.currentAction}`;
      if (seen.at(-1) !== state) seen.push(state);
      return m;
    };
    const inst = await api(`projects/${project}/zones/${vm.zone}/instances/${vm.name}`);
    expect(inst.body).toMatchObject({
      status: "STOPPING",
      scheduling: { provisioningModel: "SPOT", instanceTerminationAction: "DELETE" },
    });
    await waitFor(
      "the group to recreate the VM",
      async () => {
        const m = await managed();
        return m.id !== vm.id && m.instanceStatus === "RUNNING" && m.currentAction === "NONE";
      },
      { timeoutMs: 8000, intervalMs: 25 },
    );

    expect(seen[0]).toBe("STOPPING/NONE");
    expect(seen).toContain("TERMINATED/RECREATING");
    expect(seen.at(-1)).toBe("RUNNING/NONE");
    // The recreated VM is a new one: not preempted (its metadata server by path this time).
    const fresh = await fetch(compute.url + standInRoutes.metadata(project, vm.zone, vm.name), {
      headers: { "Metadata-Flavor": "Google" },
    });
    expect(await fresh.text()).toBe("FALSE");
    expect(await driver.describe(pool)).toMatchObject({ desired: 3 });
    expect((await driver.describe(pool)).instances).toContainEqual({ id: vm.name, state: "running" });
  });
});
