import { Construct } from "constructs";
import { Token } from "cdktf";
import { Firewall, type FirewallRule } from "../.gen/providers/hcloud/firewall/index.js";
import { Network } from "../.gen/providers/hcloud/network/index.js";
import { NetworkSubnet } from "../.gen/providers/hcloud/network-subnet/index.js";
import { PlacementGroup } from "../.gen/providers/hcloud/placement-group/index.js";
import { PrimaryIp } from "../.gen/providers/hcloud/primary-ip/index.js";
import { Server } from "../.gen/providers/hcloud/server/index.js";
import { SshKey } from "../.gen/providers/hcloud/ssh-key/index.js";
import { cidrHost } from "../lib/cidr.js";
import { baseNodeLabels, K3S_API_PORT, k3sUserData, WIREGUARD_PORT } from "../lib/cloud-init.js";

export interface K3sBaseProps {
  readonly name: string;
  readonly datacenter: string;
  readonly networkZone: string;
  readonly networkCidr: string;
  readonly subnetCidr: string;
  readonly serverType: string;
  readonly image: string;
  /** The first runs the k3s server, the rest join it as agents. */
  readonly servers: number;
  readonly k3sVersion: string;
  /** Terraform expression of the cluster token. */
  readonly token: string;
  /** The API's public DNS name, added to its certificate. */
  readonly apiHost: string;
  /** May reach 6443, 443 and SSH. */
  readonly adminCidrs: readonly string[];
  /** Spot nodes' egress: may reach 6443 and the WireGuard port. */
  readonly nodeCidrs: readonly string[];
  readonly sshKeys: readonly { name: string; publicKey: string }[];
  readonly labels: Record<string, string>;
}

/**
 * The base layer: Hetzner servers in one private network and spread placement group, bootstrapped into
 * k3s by cloud-init. Each server has a primary IP created first, so the firewall can name the servers'
 * own addresses for the WireGuard mesh without a cycle. Hetzner firewalls filter public interfaces only:
 * node-to-node traffic on the private network needs no rule, and nothing else is open to the internet.
 */
export class K3sBase extends Construct {
  readonly servers: Server[];
  readonly publicIps: PrimaryIp[];
  readonly firewall: Firewall;

  constructor(scope: Construct, id: string, props: K3sBaseProps) {
    super(scope, id);
    const labels = props.labels;
    const network = new Network(this, "network", { name: props.name, ipRange: props.networkCidr, labels });
    const subnet = new NetworkSubnet(this, "subnet", {
      networkId: Token.asNumber(network.id),
      type: "cloud",
      networkZone: props.networkZone,
      ipRange: props.subnetCidr,
    });
    const placement = new PlacementGroup(this, "spread", { name: props.name, type: "spread", labels });
    const keys = props.sshKeys.map(
      (key) =>
        new SshKey(this, `ssh-${key.name}`, {
          name: `${props.name}-${key.name}`,
          publicKey: key.publicKey,
          labels,
        }),
    );

    this.publicIps = Array.from({ length: props.servers }, (_, i) => {
      return new PrimaryIp(this, `ipv4-${i}`, {
        name: `${props.name}-${i}-ipv4`,
        type: "ipv4",
        assigneeType: "server",
        autoDelete: false,
        datacenter: props.datacenter,
        labels,
      });
    });
    const baseAddresses = this.publicIps.map((ip) => `${ip.ipAddress}/32`);

    const rule = (
      description: string,
      protocol: string,
      port: string,
      sourceIps: string[],
    ): FirewallRule => ({
      description,
      direction: "in",
      protocol,
      port,
      sourceIps,
    });
    this.firewall = new Firewall(this, "firewall", {
      name: props.name,
      labels,
      rule: [
        rule("Kubernetes API: admins and spot nodes", "tcp", K3S_API_PORT, [
          ...props.adminCidrs,
          ...props.nodeCidrs,
        ]),
        rule("HTTPS ingress: admins", "tcp", "443", [...props.adminCidrs]),
        rule("SSH: admins", "tcp", "22", [...props.adminCidrs]),
        rule("WireGuard mesh: base and spot nodes", "udp", WIREGUARD_PORT, [
          ...baseAddresses,
          ...props.nodeCidrs,
        ]),
      ],
    });

    const serverIp = (i: number) => cidrHost(props.subnetCidr, 10 + i);
    this.servers = this.publicIps.map((publicIp, i) => {
      const role = i === 0 ? "server" : "agent";
      return new Server(this, `node-${i}`, {
        name: `${props.name}-${i}`,
        serverType: props.serverType,
        image: props.image,
        datacenter: props.datacenter,
        placementGroupId: Token.asNumber(placement.id),
        firewallIds: [Token.asNumber(this.firewall.id)],
        sshKeys: keys.map((k) => k.id),
        labels: { ...labels, role },
        publicNet: [{ ipv4Enabled: true, ipv4: Token.asNumber(publicIp.id), ipv6Enabled: false }],
        network: [{ networkId: Token.asNumber(network.id), ip: serverIp(i) }],
        userData: k3sUserData({
          role,
          provider: "hetzner",
          k3sVersion: props.k3sVersion,
          token: props.token,
          nodeIp: serverIp(i),
          labels: baseNodeLabels(),
          ...(role === "server"
            ? { tlsSans: [props.apiHost] }
            : { serverUrl: `https://${serverIp(0)}:${K3S_API_PORT}` }),
        }),
        // A server joins its private network only once the subnet exists.
        dependsOn: [subnet],
        // cloud-init runs once: a changed script must not rebuild a running node.
        lifecycle: { ignoreChanges: ["user_data", "image"] },
      });
    });
  }
}
