import { setTimeout as sleep } from "node:timers/promises";
import { GceError, type ComputeState, type OperationScope } from "./state.js";
import { groupJson, instanceJson, managedInstanceJson, operationJson, templateJson } from "./views.js";

/**
 * The Compute API methods the stand-in emulates, by discovery method id: each takes the call's path
 * parameters, query and (already schema-checked) body and returns the response body. Anything else the
 * discovery document names answers 501.
 */

export interface Call {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
}

export type Handler = (state: ComputeState, call: Call) => unknown;

const p = (call: Call, name: string) => call.params[name] ?? "";
const requestId = (call: Call) => call.query.get("requestId") ?? undefined;
const op = (state: ComputeState) => (o: Parameters<typeof operationJson>[0]) => operationJson(o, state.now());

/** `regionOperations.wait` returns when the operation is DONE or after two minutes, as GCE's does. */
async function waitFor(state: ComputeState, project: string, scope: OperationScope, name: string) {
  const deadline = Date.now() + 120_000;
  let o = state.getOperation(project, scope, name);
  while (state.now() < o.done && Date.now() < deadline) {
    await sleep(Math.min(50, o.done - state.now()));
    o = state.getOperation(project, scope, name);
  }
  return operationJson(o, state.now());
}

/** A listing page: `maxResults` (GCE's default and cap: 500) and an opaque `pageToken`. */
function page<T>(items: T[], call: Call): { items: T[]; nextPageToken?: string } {
  for (const unsupported of ["filter", "orderBy"])
    if (call.query.get(unsupported))
      throw new GceError(501, "notImplemented", `${unsupported} is not emulated by the Compute stand-in`);
  const size = Math.min(Number(call.query.get("maxResults") ?? 500), 500);
  const from = Number(call.query.get("pageToken") ?? 0);
  const next = from + size;
  return { items: items.slice(from, next), ...(next < items.length ? { nextPageToken: String(next) } : {}) };
}

export const HANDLERS: Record<string, Handler> = {
  "compute.instanceTemplates.insert": (s, c) =>
    op(s)(s.insertTemplate(p(c, "project"), c.body as { name: string }, requestId(c))),
  "compute.instanceTemplates.get": (s, c) =>
    templateJson(s.template(p(c, "project"), p(c, "instanceTemplate"))),

  "compute.regionInstanceGroupManagers.insert": (s, c) =>
    op(s)(
      s.insertGroup(
        p(c, "project"),
        p(c, "region"),
        c.body as Parameters<ComputeState["insertGroup"]>[2],
        requestId(c),
      ),
    ),
  "compute.regionInstanceGroupManagers.get": (s, c) => {
    const g = s.group(p(c, "project"), p(c, "region"), p(c, "instanceGroupManager"));
    return groupJson(g, s.members(g));
  },
  "compute.regionInstanceGroupManagers.delete": (s, c) =>
    op(s)(s.deleteGroup(p(c, "project"), p(c, "region"), p(c, "instanceGroupManager"), requestId(c))),
  "compute.regionInstanceGroupManagers.resize": (s, c) =>
    op(s)(
      s.resize(
        p(c, "project"),
        p(c, "region"),
        p(c, "instanceGroupManager"),
        Number(c.query.get("size")),
        requestId(c),
      ),
    ),
  "compute.regionInstanceGroupManagers.deleteInstances": (s, c) =>
    op(s)(
      s.deleteInstances(
        p(c, "project"),
        p(c, "region"),
        p(c, "instanceGroupManager"),
        c.body as Parameters<ComputeState["deleteInstances"]>[3],
        requestId(c),
      ),
    ),
  "compute.regionInstanceGroupManagers.listManagedInstances": (s, c) => {
    const g = s.group(p(c, "project"), p(c, "region"), p(c, "instanceGroupManager"));
    const { items, nextPageToken } = page(s.members(g), c);
    return { managedInstances: items.map(managedInstanceJson), ...(nextPageToken ? { nextPageToken } : {}) };
  },

  "compute.regionOperations.get": (s, c) =>
    op(s)(s.getOperation(p(c, "project"), { region: p(c, "region") }, p(c, "operation"))),
  "compute.regionOperations.wait": (s, c) =>
    waitFor(s, p(c, "project"), { region: p(c, "region") }, p(c, "operation")),
  "compute.globalOperations.get": (s, c) =>
    op(s)(s.getOperation(p(c, "project"), { global: true }, p(c, "operation"))),
  "compute.globalOperations.wait": (s, c) => waitFor(s, p(c, "project"), { global: true }, p(c, "operation")),

  "compute.instances.get": (s, c) =>
    instanceJson(s.instance(p(c, "project"), p(c, "zone"), p(c, "instance"))),
  "compute.instances.list": (s, c) => {
    const project = p(c, "project");
    const zone = p(c, "zone");
    const { items, nextPageToken } = page(s.instancesIn(project, zone), c);
    return {
      kind: "compute#instanceList",
      id: `projects/${project}/zones/${zone}/instances`,
      items: items.map(instanceJson),
      ...(nextPageToken ? { nextPageToken } : {}),
    };
  },
};
