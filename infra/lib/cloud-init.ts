/**
 * cloud-init user data that installs k3s: the server on the first Hetzner node, agents on the other base
 * nodes and on every spot node. Pure string building, so synth tests read labels and taints straight out
 * of it.
 *
 * The join token is a Terraform reference (`${var.k3s_token}`), never a literal: it reaches the machines
 * through user data and is absent from outputs and logs.
 */
import { stringify } from "yaml";
import { PROVIDER_LABEL, POOL_LABEL, SPOT_TAINT_KEY, TIER_LABEL } from "../../src/api/labels.js";

/** k3s's supervisor and API port. */
export const K3S_API_PORT = "6443";
/** flannel's wireguard-native port. */
export const WIREGUARD_PORT = "51820";

/** The taint every spot node registers with, so only pods that tolerate it land there. */
export const SPOT_TAINT = `${SPOT_TAINT_KEY}=true:NoSchedule`;

/** Where each cloud's metadata service tells a machine its public IPv4 (flannel needs it across clouds). */
const PUBLIC_IP_COMMAND = {
  hetzner: "curl -sf http://169.254.169.254/hetzner/v1/metadata/public-ipv4",
  aws:
    'TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 60"); ' +
    'curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/public-ipv4',
  gcp: 'curl -sf -H "Metadata-Flavor: Google" http://169.254.169.254/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip',
} as const;

export type NodeProvider = keyof typeof PUBLIC_IP_COMMAND;

/**
 * The node's providerID as its cloud names the machine: the operator matches a Node to the instance it
 * removes by it (an empty node, an interrupted one), never an arbitrary one.
 */
const PROVIDER_ID_COMMAND: Record<NodeProvider, string> = {
  hetzner: 'echo "hcloud://$(curl -sf http://169.254.169.254/hetzner/v1/metadata/instance-id)"',
  aws:
    'TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 60"); ' +
    'md() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }; ' +
    'echo "aws:///$(md placement/availability-zone)/$(md instance-id)"',
  gcp:
    'md() { curl -sf -H "Metadata-Flavor: Google" "http://169.254.169.254/computeMetadata/v1/$1"; }; ' +
    'echo "gce://$(md project/project-id)/$(basename "$(md instance/zone)")/$(md instance/name)"',
};

/**
 * GCP stops a spot VM with a 30 s ACPI soft-off: the kubelet's graceful node shutdown (which holds the
 * shutdown through a logind inhibitor lock, so logind must allow as long a delay) gives pods the first
 * 15 s and critical pods the last 15 s, and reports the node NotReady, which the operator treats as an
 * interruption notice.
 */
export const GRACEFUL_SHUTDOWN = { gracePeriodSeconds: 30, criticalPodsSeconds: 15 } as const;

export interface K3sNode {
  readonly role: "server" | "agent";
  readonly provider: NodeProvider;
  readonly k3sVersion: string;
  /** A Terraform expression for the shared cluster token, e.g. `${var.k3s_token}`. */
  readonly token: string;
  /** Agents: the server to join, `https://host:6443`. */
  readonly serverUrl?: string;
  /** Server: extra names in the API certificate (the public API host). */
  readonly tlsSans?: readonly string[];
  /** The node's address inside its private network, when the cloud config fixes it. */
  readonly nodeIp?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints?: readonly string[];
}

/** Labels of a base node. */
export function baseNodeLabels(): Record<string, string> {
  return { [TIER_LABEL]: "base", [PROVIDER_LABEL]: "hetzner" };
}

/** Labels of a spot node of a pool. */
export function burstNodeLabels(provider: "aws" | "gcp", pool: string): Record<string, string> {
  return { [TIER_LABEL]: "burst", [PROVIDER_LABEL]: provider, [POOL_LABEL]: pool };
}

/** The k3s config file (/etc/rancher/k3s/config.yaml) of one node, without the IP found at boot. */
export function k3sConfig(node: K3sNode): Record<string, unknown> {
  if (node.role === "agent" && !node.serverUrl) throw new Error("a k3s agent needs serverUrl");
  return {
    ...(node.role === "agent" ? { server: node.serverUrl } : {}),
    token: node.token,
    ...(node.nodeIp ? { "node-ip": node.nodeIp } : {}),
    "node-label": Object.entries(node.labels).map(([k, v]) => `${k}=${v}`),
    ...(node.taints?.length ? { "node-taint": [...node.taints] } : {}),
    ...(node.provider === "gcp"
      ? {
          "kubelet-arg": [
            `shutdown-grace-period=${GRACEFUL_SHUTDOWN.gracePeriodSeconds}s`,
            `shutdown-grace-period-critical-pods=${GRACEFUL_SHUTDOWN.criticalPodsSeconds}s`,
          ],
        }
      : {}),
    ...(node.role === "server"
      ? {
          // WireGuard between all nodes: spot nodes in other clouds join over the internet, so pod
          // traffic must be encrypted and flannel must use public addresses.
          "flannel-backend": "wireguard-native",
          "flannel-external-ip": true,
          "tls-san": [...(node.tlsSans ?? [])],
          "secrets-encryption": true,
          "write-kubeconfig-mode": "0600",
        }
      : {}),
  };
}

/** cloud-init user data: writes the k3s config (mode 0600, it holds the token), then installs k3s. */
export function k3sUserData(node: K3sNode): string {
  const config = stringify(k3sConfig(node), { lineWidth: 0 });
  const install = [
    "set -eu",
    `echo "node-external-ip: $(${PUBLIC_IP_COMMAND[node.provider]})" >> /etc/rancher/k3s/config.yaml`,
    // A drop-in appends (`+`) to the kubelet arguments of config.yaml rather than replacing them.
    "mkdir -p /etc/rancher/k3s/config.yaml.d",
    `echo "kubelet-arg+: [provider-id=$(${PROVIDER_ID_COMMAND[node.provider]})]" > /etc/rancher/k3s/config.yaml.d/10-provider-id.yaml`,
    ...(node.provider === "gcp"
      ? [
          "mkdir -p /etc/systemd/logind.conf.d",
          `printf '[Login]\\nInhibitDelayMaxSec=${GRACEFUL_SHUTDOWN.gracePeriodSeconds}\\n' > /etc/systemd/logind.conf.d/99-spillway.conf`,
          "systemctl restart systemd-logind",
        ]
      : []),
    `curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION='${node.k3sVersion}' INSTALL_K3S_EXEC='${node.role}' sh -s -`,
  ].join("\n");
  const doc = {
    write_files: [
      { path: "/etc/rancher/k3s/config.yaml", permissions: "0600", owner: "root:root", content: config },
    ],
    runcmd: [["bash", "-c", install]],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}
