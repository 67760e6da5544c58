import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { StackId } from "../../infra/stacks/index.js";
import { STACK_IDS } from "../../infra/stacks/index.js";
import { badVariants } from "../../infra/testing.js";
import { infraTestConfig, synthAppsForFile, type SynthesizedApp } from "../helpers/infra.js";
import { denials, opa, POLICIES } from "../helpers/policy.js";

/** The real stacks with `change` applied, synthesized to disk, removed after this file's tests. */
const variant = synthAppsForFile();
const stackFile = (app: SynthesizedApp, id: StackId) => join(app.stackDir(id), "cdk.tf.json");

describe("OPA policies", () => {
  it("pass their own Rego unit tests, samples included", async () => {
    await opa("check", "--strict", POLICIES);
    const out = await opa("test", POLICIES);
    const [, passed, total] = /PASS: (\d+)\/(\d+)/.exec(out) ?? [];
    expect(Number(passed)).toBeGreaterThan(100);
    expect(passed).toBe(total);
  });

  const real = variant();
  it.each(STACK_IDS)("the %s stack as built passes every policy", async (id) => {
    expect(await denials(stackFile(real, id))).toEqual({ security: [], cost: [] });
  });

  // Deliberately bad variants of the real stacks, each denied with a message naming the resource by its
  // Terraform address and construct path.
  it.each<[string, StackId, "security" | "cost", SynthesizedApp, RegExp]>([
    [
      "a public bucket (public-access block lifted, public-read ACL)",
      "aws-spot",
      "security",
      variant(undefined, badVariants.publicS3Bucket),
      /aws_s3_bucket_acl\.public-acl \(aws-spot\/public-acl\)/,
    ],
    [
      "a public GCS bucket (allUsers may read)",
      "gcp-spot",
      "security",
      variant(undefined, badVariants.publicGcsBucket),
      /google_storage_bucket_iam_member\.everyone \(gcp-spot\/everyone\).*allUsers/,
    ],
    [
      "SSH open to the world on the base firewall",
      "hetzner-base",
      "security",
      variant(undefined, badVariants.sshOpenToWorld),
      /hcloud_firewall\.base_firewall_[0-9A-F]+ \(hetzner-base\/base\/firewall\).*0\.0\.0\.0\/0.*SSH/,
    ],
    [
      "the Kubernetes API open to the world on GCP",
      "gcp-spot",
      "security",
      variant(undefined, badVariants.apiOpenToWorld),
      /google_compute_firewall\.debug-api \(gcp-spot\/debug-api\).*Kubernetes API/,
    ],
    [
      "a wildcard IAM policy on the node role",
      "aws-spot",
      "security",
      variant(undefined, badVariants.wildcardIam),
      /aws_iam_role_policy\.admin \(aws-spot\/admin\)/,
    ],
    [
      "an on-demand burst pool on AWS",
      "aws-spot",
      "cost",
      variant(undefined, badVariants.onDemandAwsPool),
      /aws_autoscaling_group\.pool_group_[0-9A-F]+ \(aws-spot\/pool\/group\)/,
    ],
    [
      "a standard (not spot) instance template on GCP",
      "gcp-spot",
      "cost",
      variant(undefined, badVariants.standardGcpTemplate),
      /google_compute_instance_template\.pool_template_[0-9A-F]+ \(gcp-spot\/pool\/template\)/,
    ],
    [
      "a pool above the node cap",
      "aws-spot",
      "cost",
      variant(infraTestConfig((r) => (r.aws.maxNodes = 500))),
      /aws_autoscaling_group\.pool_group_[0-9A-F]+ \(aws-spot\/pool\/group\).*500/,
    ],
    [
      "an instance type off the allow-list",
      "aws-spot",
      "cost",
      variant(infraTestConfig((r) => r.aws.instanceTypes.push("p5.48xlarge"))),
      /aws_autoscaling_group\.pool_group_[0-9A-F]+ \(aws-spot\/pool\/group\).*p5\.48xlarge/,
    ],
  ])("denies %s", async (_, id, policy, app, message) => {
    const found = await denials(stackFile(app, id));
    expect(
      found[policy].some((m) => message.test(m)),
      found[policy].join("\n") || "no denials",
    ).toBe(true);
  });
});
