/**
 * A Compute Engine stand-in on loopback: regional managed instance groups of spot VMs, for the GCP pool
 * driver and the test bed's spot nodes.
 *
 * Real, checked against Google's published schema (compute.v1.json from google-api-python-client, pinned
 * in scripts/versions.env): routes are the discovery document's own path templates under `/compute/v1/`;
 * every request's path and query parameters and body, and every response body, is checked against it. A
 * request that breaks it gets a 400 in Google's error shape naming the field; a response that would break it
 * is a 500, and both are recorded (`violations()`). Behaviour follows GCE: resize creates
 * `<baseInstanceName>-xxxx` VMs spread over the group's zones (CREATING, PROVISIONING → STAGING → RUNNING)
 * or deletes the not-yet-running ones first; deleteInstances deletes exactly the named VMs (DELETING,
 * STOPPING, then gone) and lowers targetSize; a requestId makes a retried mutation return its first
 * Operation without applying it again; an unknown resource is GCE's 404 message; VMs are SPOT as their
 * template says. Preemption: `instance/preempted` turns TRUE on the VM's metadata server (which, like GCE's,
 * wants `Metadata-Flavor: Google`) together with the soft off (STOPPING); after the grace period the VM is
 * TERMINATED and its group recreates it (RECREATING, same name, new id, booting again).
 *
 * Simplified: no credentials are checked (401/403 come only from injected faults); a group without a
 * distributionPolicy uses the region's zones -a, -b, -c; a deleted group goes at once (its VMs then stop
 * and go); operations are DONE after a fixed delay and never fail; `filter`/`orderBy` answer 501, as does
 * every Compute method not emulated; the guest never shuts down early, so a preempted VM always takes the
 * whole grace period; metadata holds only the keys in metadata.ts.
 *
 * Test-bed routes (not Compute API) live under `/spillway-testbed/`; see `standInRoutes` below.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_DISCOVERY_PATH, loadDiscovery } from "./discovery.js";
import { metadataValue } from "./metadata.js";
import {
  ComputeService,
  googleError,
  type Fault,
  type RecordedCall,
  type RecordedViolation,
} from "./service.js";
import { ComputeState, GceError, parseInstanceUrl, type Operation, type Vm } from "./state.js";
import { managedVm, type ManagedVm } from "./views.js";

export type { ManagedVm, Operation, RecordedCall, RecordedViolation };

/** The API root below a stand-in's URL: what GcpPoolDriver's `endpoint` takes. */
export const API_ROOT = "/compute/v1";
/** Picks the VM whose metadata server `/computeMetadata/v1/...` answers as (`projects/p/zones/z/instances/n`). */
export const INSTANCE_HEADER = "x-spillway-instance";

/**
 * The test bed's own routes, beside the Compute API (`${url}/compute/v1/...`). JSON in and out.
 *
 * - `GET  /spillway-testbed/health`
 * - `GET  /spillway-testbed/projects/{p}/regions/{r}/instanceGroupManagers/{g}/instances` → `{instances: ManagedVm[]}`
 * - `POST /spillway-testbed/preempt` `{project, zone, instance}` → the VM (`ManagedVm`)
 * - `POST /spillway-testbed/fail` `{count, status: 401|403|429|500|503, afterApply?}`: the next `count` API calls
 * - `GET|DELETE /spillway-testbed/violations` → `{violations: RecordedViolation[]}` / clears them
 * - `GET  /spillway-testbed/metadata/projects/{p}/zones/{z}/instances/{n}/computeMetadata/v1/{key}`: that VM's
 *   metadata server; `GET /computeMetadata/v1/{key}` with header `X-Spillway-Instance: projects/p/zones/z/instances/n`
 *   is the same. Both want `Metadata-Flavor: Google`, and take `?wait_for_change=true&timeout_sec=N`.
 */
export const standInRoutes = {
  prefix: "/spillway-testbed",
  metadata: (project: string, zone: string, instance: string, key = "instance/preempted") =>
    `/spillway-testbed/metadata/projects/${project}/zones/${zone}/instances/${instance}/computeMetadata/v1/${key}`,
} as const;

export interface ComputeStandInOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Preemption notice to hard off. Default 30, as GCE. */
  graceSeconds?: number;
  /** VM creation to RUNNING. Default 1000. */
  bootDelayMs?: number;
  /** A deleted VM's STOPPING; the time a group takes to recreate a preempted VM. Default 500. */
  stopDelayMs?: number;
  /** Operation insert to DONE. Default 100. */
  operationDelayMs?: number;
  /** Default: where `npm run tools` puts it. */
  discoveryPath?: string;
}

export interface GroupSpec {
  project: string;
  region: string;
  name: string;
  /** Default 0. */
  targetSize?: number;
  /** Default: the region's -a, -b, -c. */
  zones?: string[];
  /** Default: the group's name. */
  baseInstanceName?: string;
  /** InstanceProperties of its template. Default: a SPOT VM as the gcp-spot stack's template makes it. */
  properties?: Record<string, unknown>;
}

export interface ComputeStandIn {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `${url}/compute/v1`: GcpPoolDriver's `endpoint`. */
  apiRoot: string;
  close(): Promise<void>;
  /** Inserts a SPOT template and a regional group through the API (so schema-checked too). */
  createGroup(spec: GroupSpec): Promise<void>;
  preempt(project: string, zone: string, name: string): ManagedVm;
  /** The next `count` API calls answer `status` (0 clears); `afterApply`: apply first, then answer it. */
  failNext(count: number, status: Fault["status"], o?: { afterApply?: boolean }): void;
  /** Schema violations of requests (client's) and responses (stand-in's) so far. */
  violations(): RecordedViolation[];
  clearViolations(): void;
  /** Every API call so far. */
  requests(): RecordedCall[];
  /** Every operation so far (a retried call with the same requestId adds none). */
  operations(): Operation[];
  instances(project: string, region: string, group: string): ManagedVm[];
}

/** The template the gcp-spot stack makes (infra/constructs/gcp-spot-pool.ts), as InstanceProperties. */
export const SPOT_PROPERTIES = {
  machineType: "e2-standard-8",
  scheduling: {
    provisioningModel: "SPOT",
    preemptible: true,
    automaticRestart: false,
    onHostMaintenance: "TERMINATE",
    instanceTerminationAction: "DELETE",
  },
  metadata: { items: [{ key: "block-project-ssh-keys", value: "true" }] },
};

export async function startComputeStandIn(o: ComputeStandInOptions = {}): Promise<ComputeStandIn> {
  const doc = loadDiscovery(o.discoveryPath ?? DEFAULT_DISCOVERY_PATH);
  const state = new ComputeState({
    now: Date.now,
    graceMs: (o.graceSeconds ?? 30) * 1000,
    bootMs: o.bootDelayMs ?? 1000,
    stopMs: o.stopDelayMs ?? 500,
    operationMs: o.operationDelayMs ?? 100,
    random: Math.random,
  });
  const service = new ComputeService(doc, state);
  const server = createServer((req, res) => {
    serve(service, req, res).catch((err: unknown) => {
      process.stderr.write(
        `[compute] ${req.method ?? ""} ${req.url ?? ""}: ${(err as Error).stack ?? String(err)}\n`,
      );
      if (!res.headersSent) json(res, 500, googleError(500, "backendError", "Internal Error"));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address}:${port}`;

  const expectOk = async (method: string, path: string, body: unknown) => {
    const r = await service.call(method, path, new URLSearchParams(), JSON.stringify(body));
    if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  return {
    url,
    apiRoot: url + API_ROOT,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
    createGroup: async (g) => {
      const template = `${g.name}-template`;
      await expectOk("POST", `projects/${g.project}/global/instanceTemplates`, {
        name: template,
        properties: g.properties ?? SPOT_PROPERTIES,
      });
      await expectOk("POST", `projects/${g.project}/regions/${g.region}/instanceGroupManagers`, {
        name: g.name,
        baseInstanceName: g.baseInstanceName ?? g.name,
        instanceTemplate: `projects/${g.project}/global/instanceTemplates/${template}`,
        targetSize: g.targetSize ?? 0,
        ...(g.zones
          ? {
              distributionPolicy: {
                zones: g.zones.map((z) => ({ zone: `projects/${g.project}/zones/${z}` })),
              },
            }
          : {}),
      });
    },
    preempt: (project, zone, name) => managedVm(state.preempt(project, zone, name)),
    failNext: (count, status, f = {}) => {
      service.failNext(count, { status, ...f });
    },
    violations: () => service.violations(),
    clearViolations: () => {
      service.clearViolations();
    },
    requests: () => service.requests(),
    operations: () => structuredClone(state.allOperations()),
    instances: (project, region, group) => state.members(state.group(project, region, group)).map(managedVm),
  };
}

async function serve(service: ComputeService, req: IncomingMessage, res: ServerResponse) {
  const u = new URL(req.url ?? "/", "http://stand-in");
  const method = req.method ?? "GET";
  const raw = await readBody(req);
  const path = u.pathname;

  if (path.startsWith(`${API_ROOT}/`)) {
    const reply = await service.call(method, path.slice(API_ROOT.length + 1), u.searchParams, raw);
    json(res, reply.status, reply.body);
    return;
  }
  const meta =
    /^\/spillway-testbed\/metadata\/(projects\/[^/]+\/zones\/[^/]+\/instances\/[^/]+)\/computeMetadata\/v1\/(.*)$/.exec(
      path,
    );
  if (meta) {
    await metadata(service, req, res, meta[1] ?? "", meta[2] ?? "", u.searchParams);
    return;
  }
  if (path.startsWith("/computeMetadata/v1/")) {
    const header = req.headers[INSTANCE_HEADER];
    if (typeof header !== "string") {
      text(
        res,
        400,
        `the stand-in serves many VMs' metadata: name one with ${INSTANCE_HEADER}: projects/p/zones/z/instances/n\n`,
      );
      return;
    }
    await metadata(service, req, res, header, path.slice("/computeMetadata/v1/".length), u.searchParams);
    return;
  }
  if (path.startsWith(`${standInRoutes.prefix}/`)) {
    control(service, method, path.slice(standInRoutes.prefix.length + 1), raw, res);
    return;
  }
  json(res, 404, googleError(404, "notFound", `The requested URL ${path} was not found on this server.`));
}

function control(service: ComputeService, method: string, path: string, raw: string, res: ServerResponse) {
  const state = service.state;
  try {
    let body: Record<string, unknown> = {};
    try {
      if (raw.trim()) body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw new GceError(400, "parseError", "the body is not JSON");
    }
    if (method === "GET" && path === "health") {
      json(res, 200, { ok: true, revision: service.doc.revision });
      return;
    }
    const group = /^projects\/([^/]+)\/regions\/([^/]+)\/instanceGroupManagers\/([^/]+)\/instances$/.exec(
      path,
    );
    if (method === "GET" && group) {
      const g = state.group(group[1] ?? "", group[2] ?? "", group[3] ?? "");
      json(res, 200, { instances: state.members(g).map(managedVm) });
      return;
    }
    if (method === "POST" && path === "preempt") {
      const { project, zone, instance } = body as { project?: string; zone?: string; instance?: string };
      if (!project || !zone || !instance)
        throw new GceError(400, "invalid", "preempt takes {project, zone, instance}");
      json(res, 200, managedVm(state.preempt(project, zone, instance)));
      return;
    }
    if (method === "POST" && path === "fail") {
      const { count, status, afterApply } = body as {
        count?: number;
        status?: Fault["status"];
        afterApply?: boolean;
      };
      if (typeof count !== "number" || ![401, 403, 429, 500, 503].includes(status ?? 0))
        throw new GceError(400, "invalid", "fail takes {count, status: 401|403|429|500|503, afterApply?}");
      service.failNext(count, { status: status ?? 503, afterApply: afterApply === true });
      json(res, 200, { count });
      return;
    }
    if (path === "violations" && (method === "GET" || method === "DELETE")) {
      const violations = service.violations();
      if (method === "DELETE") service.clearViolations();
      json(res, 200, { violations });
      return;
    }
    json(
      res,
      404,
      googleError(404, "notFound", `no test-bed route ${method} ${standInRoutes.prefix}/${path}`),
    );
  } catch (err) {
    if (!(err instanceof GceError)) throw err;
    json(res, err.code, googleError(err.code, err.reason, err.message));
  }
}

/** A VM's metadata server, as GCE's answers: text, `Metadata-Flavor: Google`, `wait_for_change` with an ETag. */
async function metadata(
  service: ComputeService,
  req: IncomingMessage,
  res: ServerResponse,
  instance: string,
  key: string,
  query: URLSearchParams,
) {
  if (req.headers["metadata-flavor"] !== "Google") {
    text(res, 403, "Missing required header: Metadata-Flavor\n");
    return;
  }
  const at = parseInstanceUrl(instance, "");
  const read = (): { vm: Vm; value: string | undefined } | undefined => {
    if (!at) return undefined;
    try {
      const vm = service.state.instance(at.project, at.zone, at.name);
      return { vm, value: metadataValue(vm, key) };
    } catch {
      return undefined;
    }
  };
  let got = read();
  if (query.get("wait_for_change") === "true" && got?.value !== undefined) {
    const since = query.get("last_etag") ?? etag(got.value);
    const deadline = Date.now() + Math.min(Number(query.get("timeout_sec") ?? 60), 300) * 1000;
    while (got?.value !== undefined && etag(got.value) === since && Date.now() < deadline) {
      await sleep(50);
      got = read();
    }
  }
  if (!got) {
    text(res, 404, `no instance ${instance}\n`);
    return;
  }
  if (got.value === undefined) {
    text(res, 404, `no metadata key ${key}\n`);
    return;
  }
  res.writeHead(200, {
    "content-type": "application/text",
    "metadata-flavor": "Google",
    etag: etag(got.value),
  });
  res.end(got.value);
}

function etag(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8" }).end(JSON.stringify(body));
}

function text(res: ServerResponse, status: number, body: string) {
  res
    .writeHead(status, { "content-type": "text/plain; charset=UTF-8", "metadata-flavor": "Google" })
    .end(body);
}
