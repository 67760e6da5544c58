import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling";
import {
  DescribeLaunchTemplatesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import {
  GetBucketEncryptionCommand,
  GetBucketVersioningCommand,
  ListBucketsCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { providerMirrored, tofuEnv } from "../../infra/lib/tofu.js";
import { cdktfCli, devConfigRaw } from "../helpers/infra.js";

const endpoint = inject("awsEndpoint");
const region = "eu-central-1";
const clientConfig = {
  endpoint,
  region,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
};
const s3 = new S3Client({ ...clientConfig, forcePathStyle: true });
const ec2 = new EC2Client(clientConfig);
const autoscaling = new AutoScalingClient(clientConfig);

// A fresh project name per run: emulator state outlives a failed run, and bucket names are global.
const project = `t${randomBytes(3).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "spillway-aws-stack-"));
const config = devConfigRaw();
config.project = project;
config.aws.bucket = `${project}-models`;
writeFileSync(join(dir, "config.yaml"), stringify(config));
const token = randomBytes(24).toString("hex");
const env = {
  ...tofuEnv(),
  SPILLWAY_CONFIG: join(dir, "config.yaml"),
  SPILLWAY_AWS_ENDPOINT: endpoint,
  TF_VAR_k3s_token: token,
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_REGION: region,
};
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cdktf = (...args: string[]) => cdktfCli(args, env, join(dir, "out"));

const group = `${project}-dev-spot-${region}`;
const present = providerMirrored("hashicorp/aws");

const title = present
  ? "the aws-spot stack applied to the AWS emulator with `cdktf deploy`"
  : "the aws-spot stack applied to the AWS emulator (not run: the aws provider is not built; npm run tools:providers builds it)";

describe.skipIf(!present)(title, () => {
  it(
    "creates the bucket, network, launch template and spot Auto Scaling group; destroy removes them",
    { timeout: 1_200_000 },
    async () => {
      let started = Date.now();
      const deployed = await cdktf("deploy", "aws-spot", "--auto-approve", "--skip-provider-lock");
      console.log(`cdktf deploy aws-spot: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(deployed).not.toContain(token);

      const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: `${project}-models` }));
      expect(versioning.Status).toBe("Enabled");
      const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket: `${project}-models` }));
      expect(
        encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault
          ?.SSEAlgorithm,
      ).toBe("aws:kms");

      const byProject = [{ Name: "tag:project", Values: [project] }];
      const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: byProject }));
      expect(vpcs.Vpcs?.map((v) => v.CidrBlock)).toEqual([config.aws.vpc.cidr]);
      // The VPC's default group is adopted (so it carries the tags too) and left without a rule.
      const groups = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: byProject })))
        .SecurityGroups;
      expect(groups?.map((g) => g.GroupName).sort()).toEqual(["default", `${project}-dev-spot-nodes`]);
      expect(groups?.find((g) => g.GroupName === "default")).toMatchObject({
        IpPermissions: [],
        IpPermissionsEgress: [],
      });
      const templates = await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: byProject }));
      expect(templates.LaunchTemplates?.map((t) => t.LaunchTemplateName)).toEqual([group]);

      const asgs = await autoscaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }),
      );
      const asg = asgs.AutoScalingGroups?.[0];
      expect(asg).toMatchObject({
        MinSize: 0,
        MaxSize: config.aws.maxNodes,
        DesiredCapacity: 0,
        CapacityRebalance: true,
      });
      expect(asg?.MixedInstancesPolicy?.InstancesDistribution).toMatchObject({
        OnDemandBaseCapacity: 0,
        OnDemandPercentageAboveBaseCapacity: 0,
        SpotAllocationStrategy: "price-capacity-optimized",
      });
      expect(asg?.MixedInstancesPolicy?.LaunchTemplate?.Overrides?.map((o) => o.InstanceType)).toEqual(
        config.aws.instanceTypes,
      );

      started = Date.now();
      await cdktf("destroy", "aws-spot", "--auto-approve", "--skip-provider-lock");
      console.log(`cdktf destroy aws-spot: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const buckets = await s3.send(new ListBucketsCommand({}));
      expect(buckets.Buckets?.map((b) => b.Name)).not.toContain(`${project}-models`);
      expect((await ec2.send(new DescribeVpcsCommand({ Filters: byProject }))).Vpcs).toEqual([]);
      expect(
        (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: byProject }))).SecurityGroups,
      ).toEqual([]);
      expect(
        (await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: byProject }))).LaunchTemplates,
      ).toEqual([]);
      const left = await autoscaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }),
      );
      expect(left.AutoScalingGroups).toEqual([]);
    },
  );
});
