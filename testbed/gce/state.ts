/**
 * The Compute stand-in's world: instance templates, regional managed instance groups, their VMs and the
 * operations that changed them. Pure: time comes from the injected clock and names from the injected
 * random source; nothing here does I/O. Each VM carries a queue of timed steps (boot, stop, preemption);
 * every read first applies the steps that are due, so a fake clock drives it without timers.
 */

export type InstanceStatus = "PROVISIONING" | "STAGING" | "RUNNING" | "STOPPING" | "TERMINATED";
export type CurrentAction = "NONE" | "CREATING" | "RECREATING" | "DELETING";

/** A Compute API error: HTTP code, Google's reason and message. */
export class GceError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "GceError";
  }
}

export interface StateOptions {
  now: () => number;
  /** Preemption: from the notice (soft off) to the hard off. GCE gives 30 s. */
  graceMs: number;
  /** Creation to RUNNING (PROVISIONING, then STAGING for the second half). */
  bootMs: number;
  /** A deleted VM's STOPPING, and the time a MIG takes to recreate a preempted VM. */
  stopMs: number;
  /** Insert to DONE of an operation. */
  operationMs: number;
  /** [0, 1): instance name suffixes. */
  random: () => number;
}

export interface Template {
  project: string;
  name: string;
  id: string;
  created: number;
  /** The template's InstanceProperties, as inserted (schema-checked by the HTTP layer). */
  properties: Record<string, unknown>;
}

export interface Group {
  project: string;
  region: string;
  name: string;
  id: string;
  created: number;
  baseInstanceName: string;
  /** Partial URL: projects/p/global/instanceTemplates/t */
  template: string;
  zones: string[];
  targetSize: number;
  /** Bumped on every change: the fingerprint. */
  generation: number;
}

interface Step {
  at: number;
  status?: InstanceStatus;
  action?: CurrentAction;
  then?: "remove" | "recreate";
}

export interface Vm {
  project: string;
  zone: string;
  name: string;
  id: string;
  created: number;
  /** `project/region/name` of its group. */
  group: string;
  template: Template;
  status: InstanceStatus;
  action: CurrentAction;
  /** What the metadata server's `instance/preempted` says. */
  preempted: boolean;
  lastStart?: number;
  lastStop?: number;
  steps: Step[];
}

export type OperationScope = { region: string } | { global: true };

export interface Operation {
  project: string;
  scope: OperationScope;
  name: string;
  id: string;
  /** The method that made it (`compute.regionInstanceGroupManagers.resize`). */
  type: string;
  /** Partial URL of the resource it acts on. */
  target: string;
  targetId: string;
  inserted: number;
  done: number;
  /** The requestId that made it, if any. */
  requestId?: string;
}

const groupKey = (project: string, region: string, name: string) => `${project}/${region}/${name}`;
const vmKey = (project: string, zone: string, name: string) => `${project}/${zone}/${name}`;
export const groupPath = (g: { project: string; region: string; name: string }) =>
  `projects/${g.project}/regions/${g.region}/instanceGroupManagers/${g.name}`;
export const vmPath = (v: { project: string; zone: string; name: string }) =>
  `projects/${v.project}/zones/${v.zone}/instances/${v.name}`;
export const templatePath = (t: { project: string; name: string }) =>
  `projects/${t.project}/global/instanceTemplates/${t.name}`;

/** GCE's message for a resource that does not exist. */
export const notFound = (path: string) =>
  new GceError(404, "notFound", `The resource '${path}' was not found`);

/** `…/compute/v1/projects/p/zones/z/instances/n`, `projects/p/…` or `zones/z/instances/n` → its parts. */
export function parseInstanceUrl(url: string, project: string) {
  const m = /(?:^|\/)(?:projects\/([^/]+)\/)?zones\/([^/]+)\/instances\/([^/]+)$/.exec(url);
  return m ? { project: m[1] ?? project, zone: m[2] ?? "", name: m[3] ?? "" } : undefined;
}

/** `…/projects/p/global/instanceTemplates/t` or `global/instanceTemplates/t` → its partial URL. */
function templateUrl(url: string, project: string): string | undefined {
  const m = /(?:^|\/)(?:projects\/([^/]+)\/)?global\/instanceTemplates\/([^/]+)$/.exec(url);
  return m ? templatePath({ project: m[1] ?? project, name: m[2] ?? "" }) : undefined;
}

export class ComputeState {
  private readonly templates = new Map<string, Template>();
  private readonly groups = new Map<string, Group>();
  private readonly vms = new Map<string, Vm>();
  private readonly operations = new Map<string, Operation>();
  /** `project/requestId` → the operation it made: a retried mutation gets it back, applied once. */
  private readonly requests = new Map<string, Operation>();
  private ids = 0;

  constructor(private readonly o: StateOptions) {}

  // --- instance templates -------------------------------------------------------------------------

  insertTemplate(
    project: string,
    body: { name: string; properties?: Record<string, unknown> },
    requestId?: string,
  ) {
    return this.once(project, requestId, () => {
      const path = templatePath({ project, name: body.name });
      if (this.templates.has(path)) throw alreadyExists(path);
      const t = {
        project,
        name: body.name,
        id: this.id(),
        created: this.now(),
        properties: body.properties ?? {},
      };
      this.templates.set(path, t);
      return this.operation(project, { global: true }, "compute.instanceTemplates.insert", path, t.id);
    });
  }

  template(project: string, name: string): Template {
    const path = templatePath({ project, name });
    const t = this.templates.get(path);
    if (!t) throw notFound(path);
    return t;
  }

  // --- regional managed instance groups -----------------------------------------------------------

  insertGroup(
    project: string,
    region: string,
    body: {
      name: string;
      targetSize: number;
      baseInstanceName?: string;
      instanceTemplate?: string;
      versions?: { instanceTemplate?: string }[];
      distributionPolicy?: { zones?: { zone?: string }[] };
    },
    requestId?: string,
  ) {
    return this.once(project, requestId, () => {
      const key = groupKey(project, region, body.name);
      const path = groupPath({ project, region, name: body.name });
      if (this.groups.has(key)) throw alreadyExists(path);
      const given = body.versions?.[0]?.instanceTemplate ?? body.instanceTemplate;
      if (!given)
        throw invalid("instanceTemplate", "a template is required (instanceTemplate or versions[])");
      const tpath = templateUrl(given, project);
      if (!tpath) throw invalid("instanceTemplate", `'${given}' is not a global instance template`);
      if (!this.templates.has(tpath)) throw notFound(tpath);
      if (body.targetSize < 0) throw invalid("resource.targetSize", "must be greater than or equal to 0");
      const zones = (body.distributionPolicy?.zones ?? []).flatMap((z) => z.zone?.split("/").at(-1) ?? []);
      const g: Group = {
        project,
        region,
        name: body.name,
        id: this.id(),
        created: this.now(),
        // gcloud's default; the API leaves it to the caller.
        baseInstanceName: body.baseInstanceName ?? body.name,
        template: tpath,
        // A regional MIG spreads over three of the region's zones unless told which.
        zones: zones.length ? zones : ["a", "b", "c"].map((z) => `${region}-${z}`),
        targetSize: 0,
        generation: 1,
      };
      this.groups.set(key, g);
      this.scaleTo(g, body.targetSize);
      return this.operation(project, { region }, "compute.regionInstanceGroupManagers.insert", path, g.id);
    });
  }

  group(project: string, region: string, name: string): Group {
    const g = this.groups.get(groupKey(project, region, name));
    if (!g) throw notFound(groupPath({ project, region, name }));
    this.tick();
    return g;
  }

  deleteGroup(project: string, region: string, name: string, requestId?: string) {
    return this.once(project, requestId, () => {
      const g = this.group(project, region, name);
      // Simplified: the group goes at once; its VMs stop and go as deleted ones do.
      for (const vm of this.members(g)) this.startDeleting(vm);
      this.groups.delete(groupKey(project, region, name));
      return this.operation(
        project,
        { region },
        "compute.regionInstanceGroupManagers.delete",
        groupPath(g),
        g.id,
      );
    });
  }

  /** The group's VMs, oldest first. */
  members(g: Group): Vm[] {
    this.tick();
    const key = groupKey(g.project, g.region, g.name);
    return [...this.vms.values()].filter((v) => v.group === key).sort((a, b) => a.created - b.created);
  }

  resize(project: string, region: string, name: string, size: number, requestId?: string) {
    return this.once(project, requestId, () => {
      const g = this.group(project, region, name);
      if (size < 0) throw invalid("size", `'${size}'. Must be greater than or equal to 0`);
      this.scaleTo(g, size);
      return this.operation(
        project,
        { region },
        "compute.regionInstanceGroupManagers.resize",
        groupPath(g),
        g.id,
      );
    });
  }

  /** Deletes the named VMs and lowers the target size by as many; VMs not in the group fail the call unless skipped. */
  deleteInstances(
    project: string,
    region: string,
    name: string,
    body: { instances?: string[]; skipInstancesOnValidationError?: boolean },
    requestId?: string,
  ) {
    return this.once(project, requestId, () => {
      const g = this.group(project, region, name);
      const key = groupKey(project, region, name);
      const chosen: Vm[] = [];
      for (const url of body.instances ?? []) {
        const at = parseInstanceUrl(url, project);
        const vm = at && this.vms.get(vmKey(at.project, at.zone, at.name));
        if (vm?.group === key && vm.action !== "DELETING") {
          if (!chosen.includes(vm)) chosen.push(vm);
        } else if (!body.skipInstancesOnValidationError) {
          throw invalid(
            "instances",
            `'${url}' is not a member of ${groupPath(g)}${vm?.action === "DELETING" ? " (already being deleted)" : ""}`,
          );
        }
      }
      for (const vm of chosen) this.startDeleting(vm);
      g.targetSize = Math.max(0, g.targetSize - chosen.length);
      g.generation++;
      return this.operation(
        project,
        { region },
        "compute.regionInstanceGroupManagers.deleteInstances",
        groupPath(g),
        g.id,
      );
    });
  }

  // --- instances ----------------------------------------------------------------------------------

  instance(project: string, zone: string, name: string): Vm {
    this.tick();
    const vm = this.vms.get(vmKey(project, zone, name));
    if (!vm) throw notFound(vmPath({ project, zone, name }));
    return vm;
  }

  instancesIn(project: string, zone: string): Vm[] {
    this.tick();
    return [...this.vms.values()].filter((v) => v.project === project && v.zone === zone);
  }

  /**
   * Preemption as GCE does it: the metadata server's `preempted` turns TRUE and the VM gets an ACPI soft
   * off (STOPPING) at once; after the grace period the hard off (TERMINATED); then its MIG recreates it,
   * the same name with a new id (RECREATING, booting again, `preempted` FALSE).
   */
  preempt(project: string, zone: string, name: string): Vm {
    const vm = this.instance(project, zone, name);
    const scheduling = (
      vm.template.properties as { scheduling?: { provisioningModel?: string; preemptible?: boolean } }
    ).scheduling;
    // Only spot (and legacy preemptible) VMs are ever preempted.
    if (scheduling?.provisioningModel !== "SPOT" && scheduling?.preemptible !== true)
      throw new GceError(400, "invalid", `${vmPath(vm)} is not a spot VM: only spot VMs are preempted`);
    if (vm.status !== "RUNNING" || vm.action !== "NONE")
      throw new GceError(
        400,
        "invalid",
        `${vmPath(vm)} is ${vm.status}/${vm.action}: only a running VM is preempted`,
      );
    const t = this.now();
    vm.preempted = true;
    vm.status = "STOPPING";
    vm.steps = [
      { at: t + this.o.graceMs, status: "TERMINATED", action: "RECREATING" },
      { at: t + this.o.graceMs + this.o.stopMs, then: "recreate" },
    ];
    return vm;
  }

  // --- operations ---------------------------------------------------------------------------------

  operation(
    project: string,
    scope: OperationScope,
    type: string,
    target: string,
    targetId: string,
  ): Operation {
    const t = this.now();
    const op: Operation = {
      project,
      scope,
      name: `operation-${t}-${this.id().slice(-8)}`,
      id: this.id(),
      type,
      target,
      targetId,
      inserted: t,
      done: t + this.o.operationMs,
    };
    this.operations.set(`${project}/${scopeKey(scope)}/${op.name}`, op);
    return op;
  }

  getOperation(project: string, scope: OperationScope, name: string): Operation {
    const op = this.operations.get(`${project}/${scopeKey(scope)}/${name}`);
    if (!op) {
      const where = "region" in scope ? `regions/${scope.region}` : "global";
      throw notFound(`projects/${project}/${where}/operations/${name}`);
    }
    return op;
  }

  /** Every operation so far, oldest first. */
  allOperations(): Operation[] {
    return [...this.operations.values()];
  }

  now(): number {
    return this.o.now();
  }

  // --- internals ----------------------------------------------------------------------------------

  private once(project: string, requestId: string | undefined, apply: () => Operation): Operation {
    this.tick();
    if (requestId === undefined) return apply();
    if (
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(requestId) ||
      /^[0-]+$/.test(requestId)
    )
      throw invalid(
        "requestId",
        `'${requestId}'. The request ID must be a valid UUID other than the zero UUID`,
      );
    const key = `${project}/${requestId.toLowerCase()}`;
    const earlier = this.requests.get(key);
    if (earlier) return earlier;
    const op = apply();
    op.requestId = requestId;
    this.requests.set(key, op);
    return op;
  }

  private scaleTo(g: Group, size: number) {
    const live = this.members(g).filter((v) => v.action !== "DELETING");
    for (let n = live.length; n < size; n++) live.push(this.create(g, live));
    // Going down, a MIG gives up the VMs that are not running yet first, newest first.
    const victims = [...live]
      .sort(
        (a, b) => Number(a.status === "RUNNING") - Number(b.status === "RUNNING") || b.created - a.created,
      )
      .slice(0, Math.max(0, live.length - size));
    for (const vm of victims) this.startDeleting(vm);
    g.targetSize = size;
    g.generation++;
  }

  private create(g: Group, live: Vm[]): Vm {
    // Spread evenly: the zone with the fewest of the group's VMs.
    const zone = [...g.zones].sort(
      (a, b) => live.filter((v) => v.zone === a).length - live.filter((v) => v.zone === b).length,
    )[0];
    if (!zone) throw new GceError(500, "internalError", `${groupPath(g)} has no zones`);
    const template = this.templates.get(g.template);
    if (!template) throw notFound(g.template);
    let name: string;
    do name = `${g.baseInstanceName}-${this.suffix()}`;
    while (g.zones.some((z) => this.vms.has(vmKey(g.project, z, name))));
    const t = this.now();
    const vm: Vm = {
      project: g.project,
      zone,
      name,
      id: this.id(),
      created: t,
      group: groupKey(g.project, g.region, g.name),
      template,
      status: "PROVISIONING",
      action: "CREATING",
      preempted: false,
      steps: [],
    };
    this.boot(vm, t, "CREATING");
    this.vms.set(vmKey(vm.project, vm.zone, vm.name), vm);
    return vm;
  }

  private boot(vm: Vm, t: number, action: CurrentAction) {
    vm.status = "PROVISIONING";
    vm.action = action;
    vm.steps = [
      { at: t + this.o.bootMs / 2, status: "STAGING" },
      { at: t + this.o.bootMs, status: "RUNNING", action: "NONE" },
    ];
  }

  private startDeleting(vm: Vm) {
    vm.action = "DELETING";
    if (vm.status !== "TERMINATED") vm.status = "STOPPING";
    vm.steps = [{ at: this.now() + this.o.stopMs, then: "remove" }];
  }

  /** Applies every step that is due, in time order per VM. */
  private tick() {
    const now = this.now();
    for (const [key, vm] of this.vms) {
      for (let step = vm.steps[0]; step && step.at <= now; step = vm.steps[0]) {
        vm.steps.shift();
        if (step.status) {
          if (step.status === "RUNNING") vm.lastStart = step.at;
          if (step.status === "TERMINATED") vm.lastStop = step.at;
          vm.status = step.status;
        }
        if (step.action) vm.action = step.action;
        if (step.then === "remove") this.vms.delete(key);
        if (step.then === "recreate") {
          vm.id = this.id();
          vm.created = step.at;
          vm.preempted = false;
          this.boot(vm, step.at, "RECREATING");
        }
      }
    }
  }

  private id(): string {
    // uint64 ids as GCE's look: 19 digits.
    return String(4_000_000_000_000_000_000n + BigInt(++this.ids));
  }

  private suffix(): string {
    const chars = "abcdefghijklmnopqrstuvwxyz0123456789";
    let s = "";
    for (let i = 0; i < 4; i++) s += chars[Math.floor(this.o.random() * chars.length)] ?? "a";
    return s;
  }
}

function scopeKey(scope: OperationScope): string {
  return "region" in scope ? `regions/${scope.region}` : "global";
}

function alreadyExists(path: string) {
  return new GceError(409, "alreadyExists", `The resource '${path}' already exists`);
}

function invalid(field: string, detail: string) {
  return new GceError(400, "invalid", `Invalid value for field '${field}': ${detail}`);
}
