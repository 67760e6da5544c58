import { TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import { HcloudProvider } from "../.gen/providers/hcloud/provider/index.js";
import type { InfraConfig } from "../config/schema.js";
import { K3sBase } from "../constructs/k3s-base.js";
import { apiEndpoint, commonLabels, resourceName } from "../lib/names.js";
import { SpillwayStack } from "./stack.js";
import { clusterToken } from "./variables.js";

export interface HetznerBaseStackProps {
  readonly config: InfraConfig;
}

/** The steady layer: a k3s cluster on Hetzner servers. The API token comes from HCLOUD_TOKEN. */
export class HetznerBaseStack extends SpillwayStack {
  readonly base: K3sBase;

  constructor(scope: Construct, id: string, { config }: HetznerBaseStackProps) {
    super(scope, id);
    new HcloudProvider(this, "hcloud", {});
    const token = clusterToken(this);
    const h = config.hetzner;
    this.base = new K3sBase(this, "base", {
      name: resourceName(config, "base"),
      datacenter: h.datacenter,
      networkZone: h.networkZone,
      networkCidr: h.networkCidr,
      subnetCidr: h.subnetCidr,
      serverType: h.serverType,
      image: h.image,
      servers: h.servers,
      k3sVersion: config.cluster.k3sVersion,
      token: token.stringValue,
      apiHost: config.cluster.apiHost,
      adminCidrs: config.adminCidrs,
      nodeCidrs: config.nodeCidrs,
      sshKeys: config.sshKeys,
      labels: commonLabels(config),
    });

    new TerraformOutput(this, "api_endpoint", {
      value: apiEndpoint(config),
      description: `The k3s API; point ${config.cluster.apiHost} at server_ipv4.`,
    });
    new TerraformOutput(this, "server_ipv4", {
      value: this.base.servers[0]?.ipv4Address,
      description: "Public IPv4 of the k3s server.",
    });
    new TerraformOutput(this, "node_ipv4", {
      value: this.base.publicIps.map((ip) => ip.ipAddress),
      description: "Public IPv4 of every base node; add them to nodeCidrs' peers if you filter egress.",
    });
    new TerraformOutput(this, "join", {
      value: { server_url: apiEndpoint(config), token_variable: "k3s_token" },
      description: "How spot nodes join: the server URL and the name of the token input (never its value).",
    });
  }
}
