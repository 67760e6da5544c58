import {
  groupPath,
  templatePath,
  vmPath,
  type Group,
  type Operation,
  type Template,
  type Vm,
} from "./state.js";

/**
 * The stand-in's state as Compute API v1 JSON. Pure. Links use the host GCE itself puts in selfLinks, so a
 * client that parses them sees what it would in production; every body here is checked against Google's
 * schema before it is sent.
 */

export const SELF_LINK_BASE = "https://www.googleapis.com/compute/v1/";
const link = (partial: string) => SELF_LINK_BASE + partial;
const time = (ms: number) => new Date(ms).toISOString();
const fingerprint = (s: string) => Buffer.from(s).toString("base64");

export function templateJson(t: Template) {
  return {
    kind: "compute#instanceTemplate",
    id: t.id,
    creationTimestamp: time(t.created),
    name: t.name,
    properties: t.properties,
    selfLink: link(templatePath(t)),
  };
}

const ACTIONS = [
  "abandoning",
  "creating",
  "creatingWithoutRetries",
  "deleting",
  "none",
  "recreating",
  "refreshing",
  "restarting",
  "resuming",
  "starting",
  "stopping",
  "suspending",
  "verifying",
] as const;

export function groupJson(g: Group, members: Vm[]) {
  const counts = Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<(typeof ACTIONS)[number], number>;
  for (const vm of members)
    counts[vm.action.toLowerCase() as "none" | "creating" | "recreating" | "deleting"]++;
  const regionUrl = link(`projects/${g.project}/regions/${g.region}`);
  return {
    kind: "compute#instanceGroupManager",
    id: g.id,
    creationTimestamp: time(g.created),
    name: g.name,
    region: regionUrl,
    distributionPolicy: {
      zones: g.zones.map((z) => ({ zone: link(`projects/${g.project}/zones/${z}`) })),
      targetShape: "EVEN",
    },
    instanceTemplate: link(g.template),
    versions: [{ instanceTemplate: link(g.template) }],
    instanceGroup: link(`projects/${g.project}/regions/${g.region}/instanceGroups/${g.name}`),
    baseInstanceName: g.baseInstanceName,
    fingerprint: fingerprint(`${g.id}:${g.generation}`),
    currentActions: counts,
    status: { isStable: members.every((v) => v.action === "NONE"), versionTarget: { isReached: true } },
    targetSize: g.targetSize,
    selfLink: link(groupPath(g)),
  };
}

export function managedInstanceJson(vm: Vm) {
  return {
    instance: link(vmPath(vm)),
    id: vm.id,
    name: vm.name,
    instanceStatus: vm.status,
    currentAction: vm.action,
    version: { instanceTemplate: link(templatePath(vm.template)) },
  };
}

export function instanceJson(vm: Vm) {
  const p = vm.template.properties as {
    machineType?: string;
    scheduling?: Record<string, unknown>;
    metadata?: { items?: { key: string; value?: string }[] };
    labels?: Record<string, string>;
  };
  const zoneUrl = link(`projects/${vm.project}/zones/${vm.zone}`);
  const items = p.metadata?.items ?? [];
  return {
    kind: "compute#instance",
    id: vm.id,
    creationTimestamp: time(vm.created),
    name: vm.name,
    zone: zoneUrl,
    // A template names its machine type; an instance links the zone's.
    machineType: `${zoneUrl}/machineTypes/${(p.machineType ?? "e2-standard-8").split("/").at(-1) ?? ""}`,
    status: vm.status,
    scheduling: p.scheduling ?? {},
    metadata: {
      kind: "compute#metadata",
      fingerprint: fingerprint(JSON.stringify(items)),
      items,
    },
    ...(p.labels ? { labels: p.labels } : {}),
    ...(vm.lastStart !== undefined ? { lastStartTimestamp: time(vm.lastStart) } : {}),
    ...(vm.lastStop !== undefined ? { lastStopTimestamp: time(vm.lastStop) } : {}),
    selfLink: link(vmPath(vm)),
  };
}

export function operationJson(op: Operation, now: number) {
  const done = now >= op.done;
  const where =
    "region" in op.scope
      ? `projects/${op.project}/regions/${op.scope.region}`
      : `projects/${op.project}/global`;
  return {
    kind: "compute#operation",
    id: op.id,
    name: op.name,
    operationType: op.type,
    targetLink: link(op.target),
    targetId: op.targetId,
    status: done ? "DONE" : "RUNNING",
    progress: done ? 100 : 0,
    user: "spillway-testbed@spillway.iam.gserviceaccount.com",
    insertTime: time(op.inserted),
    startTime: time(op.inserted),
    ...(done ? { endTime: time(op.done) } : {}),
    ...("region" in op.scope ? { region: link(`projects/${op.project}/regions/${op.scope.region}`) } : {}),
    selfLink: link(`${where}/operations/${op.name}`),
  };
}

/** The stand-in's view of one managed VM, for tests and the test bed (not a Compute API shape). */
export interface ManagedVm {
  name: string;
  zone: string;
  id: string;
  /** Full instance URL, as listManagedInstances gives it. */
  url: string;
  instanceStatus: string;
  currentAction: string;
  preempted: boolean;
}

export function managedVm(vm: Vm): ManagedVm {
  return {
    name: vm.name,
    zone: vm.zone,
    id: vm.id,
    url: link(vmPath(vm)),
    instanceStatus: vm.status,
    currentAction: vm.action,
    preempted: vm.preempted,
  };
}
