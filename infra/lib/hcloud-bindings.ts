/**
 * The Hetzner Cloud resources whose cdktf bindings are generated into infra/.gen (npm run
 * infra:gen-hcloud): only what the stacks import, so the committed code is what is used. A synth-tier
 * test fails when a stack imports a binding not listed here, or when .gen holds one that is not.
 */
export const HCLOUD_RESOURCES = [
  "hcloud_firewall",
  "hcloud_network",
  "hcloud_network_subnet",
  "hcloud_placement_group",
  "hcloud_primary_ip",
  "hcloud_server",
  "hcloud_ssh_key",
] as const;

/** The folder cdktf's generator writes a resource's binding to: hcloud_network_subnet → network-subnet. */
export function bindingDir(resource: string): string {
  return resource.replace(/^hcloud_/, "").replaceAll("_", "-");
}
