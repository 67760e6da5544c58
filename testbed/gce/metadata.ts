import type { Vm } from "./state.js";

/**
 * What a VM's metadata server answers below `/computeMetadata/v1/`, for the keys a spot node reads. Pure.
 * `instance/preempted` is what a preemption changes; the rest lets a node find out who it is.
 */
export function metadataValue(vm: Vm, key: string): string | undefined {
  const items = (vm.template.properties as { metadata?: { items?: { key: string; value?: string }[] } })
    .metadata?.items;
  if (key === "instance/attributes/") return (items ?? []).map((i) => `${i.key}\n`).join("");
  if (key.startsWith("instance/attributes/")) {
    const item = items?.find((i) => i.key === key.slice("instance/attributes/".length));
    return item ? (item.value ?? "") : undefined;
  }
  const scheduling = (vm.template.properties as { scheduling?: { preemptible?: boolean } }).scheduling;
  const values: Record<string, string> = {
    "instance/preempted": vm.preempted ? "TRUE" : "FALSE",
    "instance/name": vm.name,
    "instance/id": vm.id,
    // GCE gives the project's number here; the stand-in has only its id.
    "instance/zone": `projects/${vm.project}/zones/${vm.zone}`,
    "instance/hostname": `${vm.name}.${vm.zone}.c.${vm.project}.internal`,
    "instance/scheduling/preemptible": scheduling?.preemptible ? "TRUE" : "FALSE",
    "instance/maintenance-event": "NONE",
    "project/project-id": vm.project,
  };
  return values[key];
}
