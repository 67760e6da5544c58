import { TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway/index.js";
import { Route } from "@cdktf/provider-aws/lib/route/index.js";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table/index.js";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association/index.js";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { Subnet } from "@cdktf/provider-aws/lib/subnet/index.js";
import { Vpc } from "@cdktf/provider-aws/lib/vpc/index.js";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy/index.js";
import type { InfraConfig } from "../config/schema.js";
import { AwsInterruptionQueue } from "../constructs/aws-interruption-queue.js";
import { AwsSpotPool } from "../constructs/aws-spot-pool.js";
import { S3ModelBucket } from "../constructs/s3-model-bucket.js";
import { burstNodeLabels, k3sUserData, SPOT_TAINT, WIREGUARD_PORT } from "../lib/cloud-init.js";
import { apiEndpoint, commonLabels, poolNames, resourceName } from "../lib/names.js";
import { SpillwayStack } from "./stack.js";
import { clusterToken } from "./variables.js";

export interface AwsSpotStackProps {
  readonly config: InfraConfig;
  /**
   * An AWS API emulator (LocalStack or moto) to deploy against instead of AWS, e.g. http://127.0.0.1:4566.
   * Used by the emulator test tier only. @default - real AWS
   */
  readonly endpoint?: string;
}

/** Services the stack calls, pointed at the emulator when one is given. */
const EMULATED_SERVICES = ["autoscaling", "cloudwatchevents", "ec2", "iam", "s3", "sqs", "sts"] as const;

/**
 * Spot capacity on AWS: network, model bucket, a spot-only Auto Scaling group of k3s agents, the queue of
 * spot interruption notices, and the policy the operator's identity needs for both.
 */
export class AwsSpotStack extends SpillwayStack {
  readonly pool: AwsSpotPool;
  readonly bucket: S3ModelBucket;
  readonly interruptions: AwsInterruptionQueue;
  readonly operatorPolicy: IamPolicy;

  constructor(scope: Construct, id: string, { config, endpoint }: AwsSpotStackProps) {
    super(scope, id);
    const tags = commonLabels(config);
    const aws = config.aws;
    new AwsProvider(this, "aws", {
      region: aws.region,
      defaultTags: [{ tags }],
      ...(endpoint
        ? {
            accessKey: "test",
            secretKey: "test",
            skipCredentialsValidation: true,
            skipRequestingAccountId: true,
            skipMetadataApiCheck: "true",
            s3UsePathStyle: true,
            endpoints: [Object.fromEntries(EMULATED_SERVICES.map((s) => [s, endpoint]))],
          }
        : {}),
    });
    this.allowNewerProvider("aws", "@cdktf/provider-aws");
    const token = clusterToken(this);
    const name = resourceName(config, "spot");

    let subnetIds: string[];
    let vpcId: string;
    if ("cidr" in aws.vpc) {
      const vpc = new Vpc(this, "vpc", {
        cidrBlock: aws.vpc.cidr,
        enableDnsHostnames: true,
        tags: { ...tags, Name: name },
      });
      // Strips every rule from the VPC's default group: an instance launched here without a group of its
      // own gets no traffic, instead of the default's all-egress and VPC-internal ingress.
      new DefaultSecurityGroup(this, "default-group", { vpcId: vpc.id, tags });
      const igw = new InternetGateway(this, "igw", { vpcId: vpc.id, tags });
      const routes = new RouteTable(this, "public", { vpcId: vpc.id, tags });
      // A separate route, not the table's inline `route` list: that list is an attribute whose every
      // field must be given, and newer providers than the bindings add fields.
      new Route(this, "internet", {
        routeTableId: routes.id,
        destinationCidrBlock: "0.0.0.0/0",
        gatewayId: igw.id,
      });
      subnetIds = aws.vpc.subnets.map((s, i) => {
        const subnet = new Subnet(this, `subnet-${i}`, {
          vpcId: vpc.id,
          cidrBlock: s.cidr,
          availabilityZone: s.zone,
          mapPublicIpOnLaunch: false,
          tags: { ...tags, Name: `${name}-${s.zone}` },
        });
        new RouteTableAssociation(this, `subnet-${i}-routes`, {
          subnetId: subnet.id,
          routeTableId: routes.id,
        });
        return subnet.id;
      });
      vpcId = vpc.id;
    } else {
      subnetIds = [...aws.vpc.subnetIds];
      vpcId = aws.vpc.id;
    }

    // Spot nodes accept only the WireGuard mesh; the kubelet is reached through k3s's own tunnel.
    const sg = new SecurityGroup(this, "nodes", {
      name: `${name}-nodes`,
      description: "Spillway spot nodes: WireGuard from the fleet, all egress",
      vpcId,
      tags,
    });
    config.nodeCidrs.forEach((cidr, i) => {
      new VpcSecurityGroupIngressRule(this, `wireguard-${i}`, {
        securityGroupId: sg.id,
        description: "WireGuard mesh",
        ipProtocol: "udp",
        fromPort: Number(WIREGUARD_PORT),
        toPort: Number(WIREGUARD_PORT),
        cidrIpv4: cidr,
        tags,
      });
    });
    new VpcSecurityGroupEgressRule(this, "egress", {
      securityGroupId: sg.id,
      description: "k3s API, image and model downloads",
      ipProtocol: "-1",
      cidrIpv4: "0.0.0.0/0",
      tags,
    });

    this.bucket = new S3ModelBucket(this, "models", {
      name: aws.bucket,
      noncurrentVersionDays: aws.noncurrentVersionDays,
      tags,
    });
    const group = poolNames(config).aws;
    this.pool = new AwsSpotPool(this, "pool", {
      name: group,
      imageId: aws.imageId,
      instanceTypes: aws.instanceTypes,
      maxNodes: aws.maxNodes,
      ...(aws.maxSpotPriceUsd !== undefined ? { maxSpotPriceUsd: aws.maxSpotPriceUsd } : {}),
      subnetIds,
      securityGroupIds: [sg.id],
      modelBucket: this.bucket.bucket,
      userData: k3sUserData({
        role: "agent",
        provider: "aws",
        k3sVersion: config.cluster.k3sVersion,
        token: token.stringValue,
        serverUrl: apiEndpoint(config),
        labels: burstNodeLabels("aws", group),
        taints: [SPOT_TAINT],
      }),
      tags,
    });

    this.interruptions = new AwsInterruptionQueue(this, "interruptions", { name: group, tags });
    // What the operator does here and nothing else: size this group, remove its instances one by one,
    // read and delete interruption notices. Attach it to the operator's identity; no key is made here,
    // so no secret reaches the state.
    const operator = new DataAwsIamPolicyDocument(this, "operator", {
      statement: [
        {
          sid: "SizeTheGroup",
          actions: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
          resources: [this.pool.group.arn],
        },
        {
          // DescribeAutoScalingGroups has no resource-level permissions: AWS accepts only "*".
          sid: "ReadGroups",
          actions: ["autoscaling:DescribeAutoScalingGroups"],
          resources: ["*"],
        },
        {
          sid: "ReadInterruptions",
          actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
          resources: [this.interruptions.queue.arn],
        },
      ],
    });
    this.operatorPolicy = new IamPolicy(this, "operator-policy", {
      name: `${group}-operator`,
      description: "Spillway operator: size the spot group and read its interruption notices",
      policy: operator.json,
      tags,
    });

    new TerraformOutput(this, "asg_name", { value: this.pool.group.name });
    new TerraformOutput(this, "interruption_queue_url", { value: this.interruptions.queue.url });
    new TerraformOutput(this, "operator_policy_arn", { value: this.operatorPolicy.arn });
    new TerraformOutput(this, "bucket", { value: this.bucket.bucket.bucket });
    new TerraformOutput(this, "region", { value: aws.region });
  }
}
