import { Construct } from "constructs";
import { ComputeInstanceTemplate } from "@cdktf/provider-google/lib/compute-instance-template/index.js";
import { ComputeRegionInstanceGroupManager } from "@cdktf/provider-google/lib/compute-region-instance-group-manager/index.js";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member/index.js";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account/index.js";
import type { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket/index.js";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member/index.js";

export interface GcpSpotPoolProps {
  /** The managed instance group's name, which the BurstPool names as its group. */
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly machineType: string;
  readonly image: string;
  readonly subnetwork: string;
  /** Network tag the pool's firewall rules select. */
  readonly networkTag: string;
  /** The only bucket the nodes may read. */
  readonly modelBucket: StorageBucket;
  /** cloud-init that joins the node to the cluster (see lib/cloud-init.ts). */
  readonly userData: string;
  readonly labels: Record<string, string>;
  /** Boot disk size; model files are cached on it. @default 100 */
  readonly diskSizeGb?: number;
}

/** The only project roles a node needs: shipping its logs and metrics. */
export const NODE_PROJECT_ROLES = ["roles/logging.logWriter", "roles/monitoring.metricWriter"] as const;

/**
 * A regional managed instance group of SPOT k3s agents with target size 0: a service account that can
 * read the model bucket and write logs and metrics, and an instance template that GCP may preempt (no
 * automatic restart, TERMINATE on host maintenance, instances deleted when preempted). The operator sets
 * the target size, which Terraform then leaves alone.
 */
export class GcpSpotPool extends Construct {
  readonly group: ComputeRegionInstanceGroupManager;
  readonly serviceAccount: ServiceAccount;

  constructor(scope: Construct, id: string, props: GcpSpotPoolProps) {
    super(scope, id);
    // Account ids are at most 30 characters.
    this.serviceAccount = new ServiceAccount(this, "node", {
      accountId: `${props.name.slice(0, 25).replace(/-+$/, "")}-node`,
      displayName: `Spillway spot node (${props.name})`,
    });
    const member = `serviceAccount:${this.serviceAccount.email}`;
    for (const role of NODE_PROJECT_ROLES) {
      new ProjectIamMember(this, `role-${role.replace("roles/", "").replace(/\./g, "-")}`, {
        project: props.project,
        role,
        member,
      });
    }
    new StorageBucketIamMember(this, "read-models", {
      bucket: props.modelBucket.name,
      role: "roles/storage.objectViewer",
      member,
    });

    const template = new ComputeInstanceTemplate(this, "template", {
      namePrefix: `${props.name}-`,
      machineType: props.machineType,
      labels: props.labels,
      tags: [props.networkTag],
      disk: [
        {
          sourceImage: props.image,
          boot: true,
          autoDelete: true,
          diskSizeGb: props.diskSizeGb ?? 100,
          diskType: "pd-balanced",
        },
      ],
      // An ephemeral public address: nodes reach the base cluster's API over the internet.
      networkInterface: [{ subnetwork: props.subnetwork, accessConfig: [{}] }],
      serviceAccount: { email: this.serviceAccount.email, scopes: ["cloud-platform"] },
      scheduling: {
        provisioningModel: "SPOT",
        preemptible: true,
        automaticRestart: false,
        onHostMaintenance: "TERMINATE",
        instanceTerminationAction: "DELETE",
      },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      metadata: { "user-data": props.userData, "block-project-ssh-keys": "true" },
      // A changed template is a new template; the group moves to it before the old one goes.
      lifecycle: { createBeforeDestroy: true },
    });

    this.group = new ComputeRegionInstanceGroupManager(this, "group", {
      name: props.name,
      baseInstanceName: props.name,
      region: props.region,
      version: [{ name: "spot", instanceTemplate: template.selfLinkUnique }],
      targetSize: 0,
      // The operator owns the size from here on.
      lifecycle: { ignoreChanges: ["target_size"] },
    });
  }
}
