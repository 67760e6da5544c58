import { TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import { ComputeFirewall } from "@cdktf/provider-google/lib/compute-firewall/index.js";
import { ComputeNetwork } from "@cdktf/provider-google/lib/compute-network/index.js";
import { ComputeSubnetwork } from "@cdktf/provider-google/lib/compute-subnetwork/index.js";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider/index.js";
import type { InfraConfig } from "../config/schema.js";
import { GcpSpotPool } from "../constructs/gcp-spot-pool.js";
import { GcsModelBucket } from "../constructs/gcs-model-bucket.js";
import { burstNodeLabels, k3sUserData, SPOT_TAINT, WIREGUARD_PORT } from "../lib/cloud-init.js";
import { apiEndpoint, commonLabels, poolNames, resourceName } from "../lib/names.js";
import { SpillwayStack } from "./stack.js";
import { clusterToken } from "./variables.js";

export interface GcpSpotStackProps {
  readonly config: InfraConfig;
}

/** Spot capacity on GCP: network, model bucket and a SPOT managed instance group of k3s agents. */
export class GcpSpotStack extends SpillwayStack {
  readonly pool: GcpSpotPool;
  readonly bucket: GcsModelBucket;

  constructor(scope: Construct, id: string, { config }: GcpSpotStackProps) {
    super(scope, id);
    const gcp = config.gcp;
    const labels = commonLabels(config);
    new GoogleProvider(this, "google", { project: gcp.project, region: gcp.region, defaultLabels: labels });
    this.allowNewerProvider("google", "@cdktf/provider-google");
    const token = clusterToken(this);
    const name = resourceName(config, "spot");
    const networkTag = `${name}-node`;

    const network = new ComputeNetwork(this, "network", { name, autoCreateSubnetworks: false });
    const subnet = new ComputeSubnetwork(this, "subnet", {
      name: `${name}-${gcp.region}`,
      network: network.id,
      region: gcp.region,
      ipCidrRange: gcp.subnetCidr,
      privateIpGoogleAccess: true,
      // Flow logs, sampled and aggregated so that their Cloud Logging volume stays small: a record of who
      // reached the nodes, not a traffic archive.
      logConfig: {
        aggregationInterval: "INTERVAL_10_MIN",
        flowSampling: 0.1,
        metadata: "EXCLUDE_ALL_METADATA",
      },
    });
    // Spot nodes accept only the WireGuard mesh; the kubelet is reached through k3s's own tunnel.
    new ComputeFirewall(this, "wireguard", {
      name: `${name}-wireguard`,
      network: network.id,
      direction: "INGRESS",
      sourceRanges: [...config.nodeCidrs],
      targetTags: [networkTag],
      allow: [{ protocol: "udp", ports: [WIREGUARD_PORT] }],
    });

    this.bucket = new GcsModelBucket(this, "models", {
      name: gcp.bucket,
      location: gcp.region,
      noncurrentVersionDays: gcp.noncurrentVersionDays,
      labels,
    });
    const group = poolNames(config).gcp;
    this.pool = new GcpSpotPool(this, "pool", {
      name: group,
      project: gcp.project,
      region: gcp.region,
      machineType: gcp.machineType,
      image: gcp.image,
      subnetwork: subnet.id,
      networkTag,
      modelBucket: this.bucket.bucket,
      userData: k3sUserData({
        role: "agent",
        provider: "gcp",
        k3sVersion: config.cluster.k3sVersion,
        token: token.stringValue,
        serverUrl: apiEndpoint(config),
        labels: burstNodeLabels("gcp", group),
        taints: [SPOT_TAINT],
      }),
      labels,
    });

    new TerraformOutput(this, "mig_name", { value: this.pool.group.name });
    new TerraformOutput(this, "bucket", { value: this.bucket.bucket.name });
    new TerraformOutput(this, "region", { value: gcp.region });
  }
}
