import { describe, expect, it } from "vitest";
import { dataSource, onlyResource, resourcesOf, synth, infraTestConfig, textOf } from "../helpers/infra.js";

describe("aws-spot stack", () => {
  const config = infraTestConfig();
  const json = synth("aws-spot", config);
  const ref = (type: string, attr: string) => `\${${type}.${onlyResource(json, type).tfName}.${attr}}`;

  it("runs a spot-only Auto Scaling group that starts empty and is sized by the operator", () => {
    const group = onlyResource(json, "aws_autoscaling_group");
    expect(group).toMatchObject({
      name: "spillway-dev-spot-eu-central-1",
      min_size: 0,
      max_size: config.aws.maxNodes,
      desired_capacity: 0,
      capacity_rebalance: true,
      lifecycle: { ignore_changes: ["desired_capacity"] },
    });
    expect(group.mixed_instances_policy.instances_distribution).toEqual({
      on_demand_base_capacity: 0,
      on_demand_percentage_above_base_capacity: 0,
      spot_allocation_strategy: "price-capacity-optimized",
      spot_max_price: "0.6000",
    });
    const template = group.mixed_instances_policy.launch_template;
    expect(template.override.map((o: any) => o.instance_type)).toEqual(config.aws.instanceTypes);
    expect(template.launch_template_specification.launch_template_id).toBe(ref("aws_launch_template", "id"));
    expect(group.vpc_zone_identifier).toHaveLength(3);
  });

  it("launches nodes with IMDSv2 only, an encrypted disk, and cloud-init that joins them tainted", () => {
    const template = onlyResource(json, "aws_launch_template");
    expect(template.metadata_options).toEqual({
      http_endpoint: "enabled",
      http_tokens: "required",
      http_put_response_hop_limit: 1,
    });
    expect(template.block_device_mappings[0].ebs).toMatchObject({ encrypted: "true", volume_type: "gp3" });
    expect(template.iam_instance_profile.arn).toBe(ref("aws_iam_instance_profile", "arn"));
    expect(template.instance_market_options).toBeUndefined(); // the group's mixed policy decides
    const userData = textOf(template.user_data);
    expect(userData).toMatch(/^\$\{base64encode\(join\(/);
    expect(userData).toContain("server: https://k8s.dev.example.com:6443");
    expect(userData).toContain('token: ", var.k3s_token, "');
    for (const label of [
      "spillway.dev/tier=burst",
      "spillway.dev/provider=aws",
      "spillway.dev/pool=spillway-dev-spot-eu-central-1",
    ]) {
      expect(userData).toContain(`- ${label}`);
    }
    expect(userData).toContain("node-taint:\n        - spillway.dev/spot=true:NoSchedule");
    expect(userData).toContain("INSTALL_K3S_EXEC='agent'");
    // The node's providerID names its instance, so the operator removes exactly that one.
    expect(userData).toMatch(
      /provider-id=.*aws:\/\/\/\$\(md placement\/availability-zone\)\/\$\(md instance-id\)/,
    );
  });

  it("lets nodes read the model bucket and nothing else", () => {
    const readModels = dataSource(json, "aws_iam_policy_document", "read-models");
    const bucketArn = ref("aws_s3_bucket", "arn");
    expect(readModels.statement).toEqual([
      { sid: "ListModels", actions: ["s3:ListBucket"], resources: [bucketArn] },
      { sid: "ReadModels", actions: ["s3:GetObject", "s3:GetObjectVersion"], resources: [`${bucketArn}/*`] },
    ]);
    expect(resourcesOf(json, "aws_iam_role_policy")).toHaveLength(1);
    expect(json.resource.aws_iam_role_policy_attachment).toBeUndefined();
    const assume = dataSource(json, "aws_iam_policy_document", "assume-role");
    expect(assume.statement[0].principals).toEqual([{ type: "Service", identifiers: ["ec2.amazonaws.com"] }]);
  });

  it("keeps the model bucket private, encrypted, versioned, TLS-only, with old versions expiring", () => {
    const bucket = onlyResource(json, "aws_s3_bucket");
    const id = ref("aws_s3_bucket", "id");
    expect(bucket.bucket).toBe(config.aws.bucket);
    expect(onlyResource(json, "aws_s3_bucket_public_access_block")).toMatchObject({
      bucket: id,
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(onlyResource(json, "aws_s3_bucket_versioning").versioning_configuration).toEqual({
      status: "Enabled",
    });
    expect(onlyResource(json, "aws_s3_bucket_server_side_encryption_configuration").rule[0]).toEqual({
      apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms" },
      bucket_key_enabled: true,
    });
    const lifecycle = onlyResource(json, "aws_s3_bucket_lifecycle_configuration").rule[0];
    expect(lifecycle).toMatchObject({
      status: "Enabled",
      noncurrent_version_expiration: [{ noncurrent_days: 30 }],
    });
    const tlsOnly = dataSource(json, "aws_iam_policy_document", "tls-only");
    expect(tlsOnly.statement[0]).toMatchObject({
      effect: "Deny",
      condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
    });
    expect(onlyResource(json, "aws_s3_bucket_policy").bucket).toBe(id);
  });

  it("admits only WireGuard from the fleet's nodes", () => {
    const ingress = resourcesOf(json, "aws_vpc_security_group_ingress_rule");
    expect(ingress.map((r) => [r.ip_protocol, r.from_port, r.to_port, r.cidr_ipv4])).toEqual(
      config.nodeCidrs.map((cidr) => ["udp", 51820, 51820, cidr]),
    );
    expect(onlyResource(json, "aws_security_group").ingress).toBeUndefined();
    // The VPC's default group is adopted with no rules, so it admits and sends nothing.
    const fallback = onlyResource(json, "aws_default_security_group");
    expect(fallback.vpc_id).toBe(ref("aws_vpc", "id"));
    expect(fallback.ingress).toBeUndefined();
    expect(fallback.egress).toBeUndefined();
  });

  it("tags every resource through the provider, the group and the instances it launches", () => {
    const tags = { team: "platform", project: "spillway", environment: "dev", "managed-by": "cdktf" };
    expect(json.provider.aws![0].default_tags).toEqual([{ tags }]);
    expect(onlyResource(json, "aws_autoscaling_group").tag).toEqual(
      Object.entries(tags).map(([key, value]) => ({ key, value, propagate_at_launch: false })),
    );
    const specs = onlyResource(json, "aws_launch_template").tag_specifications;
    expect(specs.map((s: any) => s.resource_type)).toEqual(["instance", "volume", "network-interface"]);
    for (const spec of specs) expect(spec.tags).toEqual(tags);
  });

  it("uses an existing VPC when the config names one", () => {
    const existing = synth(
      "aws-spot",
      infraTestConfig(
        (r) => (r.aws.vpc = { id: "vpc-0123456789abcdef0", subnetIds: ["subnet-0123456789abcdef0"] }),
      ),
    );
    expect(existing.resource.aws_vpc).toBeUndefined();
    expect(existing.resource.aws_subnet).toBeUndefined();
    expect(existing.resource.aws_default_security_group).toBeUndefined(); // not ours to change
    expect(onlyResource(existing, "aws_security_group").vpc_id).toBe("vpc-0123456789abcdef0");
    expect(onlyResource(existing, "aws_autoscaling_group").vpc_zone_identifier).toEqual([
      "subnet-0123456789abcdef0",
    ]);
  });

  it("points every service at an emulator only when asked", () => {
    expect(json.provider.aws![0].endpoints).toBeUndefined();
    const emulated = synth("aws-spot", config, { awsEndpoint: "http://127.0.0.1:4566" });
    expect(emulated.provider.aws![0]).toMatchObject({
      s3_use_path_style: true,
      skip_credentials_validation: true,
      endpoints: [
        {
          autoscaling: "http://127.0.0.1:4566",
          ec2: "http://127.0.0.1:4566",
          iam: "http://127.0.0.1:4566",
          s3: "http://127.0.0.1:4566",
          sts: "http://127.0.0.1:4566",
        },
      ],
    });
  });

  it("accepts newer aws provider releases of the same major", () => {
    expect(json.terraform.required_providers.aws).toEqual({ source: "aws", version: ">= 6.25.0, < 7.0.0" });
  });

  it("matches its snapshot", () => {
    expect(json).toMatchSnapshot();
  });

  it("routes spot interruption notices to an encrypted queue only EventBridge writes to", () => {
    const queue = onlyResource(json, "aws_sqs_queue");
    expect(queue).toMatchObject({ sqs_managed_sse_enabled: true, message_retention_seconds: 300 });
    const rules = resourcesOf(json, "aws_cloudwatch_event_rule").map((r: any) => JSON.parse(r.event_pattern));
    expect(rules.map((p: any) => p["detail-type"][0]).sort()).toEqual([
      "EC2 Instance Rebalance Recommendation",
      "EC2 Instance State-change Notification",
      "EC2 Spot Instance Interruption Warning",
    ]);
    for (const target of resourcesOf(json, "aws_cloudwatch_event_target"))
      expect(target.arn).toBe(ref("aws_sqs_queue", "arn"));
    const send = onlyResource(json, "aws_sqs_queue_policy");
    expect(send.queue_url).toBe(ref("aws_sqs_queue", "url"));
  });

  it("grants the operator only its group and its queue", () => {
    const doc = Object.values((json.data as any).aws_iam_policy_document).find((d: any) =>
      d.statement?.some((s: any) => s.sid === "SizeTheGroup"),
    ) as any;
    const bySid = Object.fromEntries(doc.statement.map((s: any) => [s.sid, s]));
    expect(bySid.SizeTheGroup.resources).toEqual([ref("aws_autoscaling_group", "arn")]);
    expect(bySid.ReadInterruptions.resources).toEqual([ref("aws_sqs_queue", "arn")]);
    expect(bySid.ReadGroups).toMatchObject({
      actions: ["autoscaling:DescribeAutoScalingGroups"],
      resources: ["*"],
    });
    expect(Object.keys(json.output as object)).toEqual(
      expect.arrayContaining(["interruption_queue_url", "operator_policy_arn"]),
    );
  });
});
