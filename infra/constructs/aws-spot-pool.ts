import { Construct } from "constructs";
import { Fn } from "cdktf";
import { terraformString } from "../lib/tokens.js";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group/index.js";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template/index.js";
import type { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket/index.js";

export interface AwsSpotPoolProps {
  /** The Auto Scaling group's name, which the BurstPool names as its group. */
  readonly name: string;
  readonly imageId: string;
  /** Instance types the spot allocation chooses from; more types, fewer interruptions. */
  readonly instanceTypes: readonly string[];
  readonly maxNodes: number;
  /** Highest price per node-hour; unset means up to the on-demand price. */
  readonly maxSpotPriceUsd?: number;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** The only bucket the nodes may read. */
  readonly modelBucket: S3Bucket;
  /** cloud-init that joins the node to the cluster (see lib/cloud-init.ts). */
  readonly userData: string;
  readonly tags: Record<string, string>;
  /** Root volume size; model files are cached on it. @default 100 */
  readonly rootVolumeGiB?: number;
}

/**
 * A spot-only Auto Scaling group of k3s agents: a launch template (IMDSv2 only, encrypted root volume,
 * an instance profile that can read the model bucket and nothing else) and a mixed instances policy with
 * no on-demand capacity. It starts empty: the operator sets the desired capacity, which Terraform then
 * leaves alone.
 */
export class AwsSpotPool extends Construct {
  readonly group: AutoscalingGroup;
  readonly role: IamRole;

  constructor(scope: Construct, id: string, props: AwsSpotPoolProps) {
    super(scope, id);
    const assume = new DataAwsIamPolicyDocument(this, "assume-role", {
      statement: [
        {
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: ["ec2.amazonaws.com"] }],
        },
      ],
    });
    this.role = new IamRole(this, "role", {
      name: `${props.name}-node`,
      assumeRolePolicy: assume.json,
      tags: props.tags,
    });
    const bucket = props.modelBucket;
    const readModels = new DataAwsIamPolicyDocument(this, "read-models", {
      statement: [
        { sid: "ListModels", actions: ["s3:ListBucket"], resources: [bucket.arn] },
        {
          sid: "ReadModels",
          actions: ["s3:GetObject", "s3:GetObjectVersion"],
          resources: [`${bucket.arn}/*`],
        },
      ],
    });
    new IamRolePolicy(this, "read-models-policy", {
      name: "read-models",
      role: this.role.id,
      policy: readModels.json,
    });
    const profile = new IamInstanceProfile(this, "profile", {
      name: `${props.name}-node`,
      role: this.role.name,
      tags: props.tags,
    });

    const template = new LaunchTemplate(this, "template", {
      name: props.name,
      imageId: props.imageId,
      iamInstanceProfile: { arn: profile.arn },
      userData: Fn.base64encode(terraformString(props.userData)),
      updateDefaultVersion: true,
      // IMDSv2 only, one hop: pods cannot borrow the node's role through the metadata service.
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      networkInterfaces: [
        {
          associatePublicIpAddress: "true",
          securityGroups: [...props.securityGroupIds],
          deleteOnTermination: "true",
        },
      ],
      blockDeviceMappings: [
        {
          deviceName: "/dev/sda1",
          ebs: {
            volumeSize: props.rootVolumeGiB ?? 100,
            volumeType: "gp3",
            encrypted: "true",
            deleteOnTermination: "true",
          },
        },
      ],
      tagSpecifications: ["instance", "volume", "network-interface"].map((resourceType) => ({
        resourceType,
        tags: props.tags,
      })),
      tags: props.tags,
    });

    this.group = new AutoscalingGroup(this, "group", {
      name: props.name,
      minSize: 0,
      maxSize: props.maxNodes,
      desiredCapacity: 0,
      vpcZoneIdentifier: [...props.subnetIds],
      // Replace a spot node on AWS's rebalance signal, before the two-minute interruption notice.
      capacityRebalance: true,
      mixedInstancesPolicy: {
        instancesDistribution: {
          onDemandBaseCapacity: 0,
          onDemandPercentageAboveBaseCapacity: 0,
          spotAllocationStrategy: "price-capacity-optimized",
          ...(props.maxSpotPriceUsd !== undefined ? { spotMaxPrice: props.maxSpotPriceUsd.toFixed(4) } : {}),
        },
        launchTemplate: {
          launchTemplateSpecification: { launchTemplateId: template.id, version: "$Latest" },
          override: props.instanceTypes.map((instanceType) => ({ instanceType })),
        },
      },
      tag: Object.entries(props.tags).map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
      // The operator owns the size from here on.
      lifecycle: { ignoreChanges: ["desired_capacity"] },
    });
  }
}
