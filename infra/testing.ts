/**
 * Synthesis for tests, and deliberately bad variants of the real stacks. It lives in infra/ so that every
 * cdktf import stays here, and a move to another CDKTF distribution touches this folder only.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Testing, TerraformVariable, type TerraformResource, type TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { S3BucketAcl } from "@cdktf/provider-aws/lib/s3-bucket-acl/index.js";
import { ComputeFirewall } from "@cdktf/provider-google/lib/compute-firewall/index.js";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member/index.js";
import type { InfraConfig } from "./config/schema.js";
import { buildStacks, type BuildOptions, type StackId } from "./stacks/index.js";

export type Stacks = ReturnType<typeof buildStacks>;

/**
 * Builds every stack of `config` in a throwaway app and hands them to `fn`. cdktf's Testing.app leaves a
 * temp folder behind unless given an outdir, so it gets one that is removed here.
 */
export function withStacks<T>(config: InfraConfig, fn: (stacks: Stacks) => T, options: BuildOptions = {}): T {
  const outdir = mkdtempSync(join(tmpdir(), "spillway-synth-"));
  try {
    return fn(buildStacks(Testing.app({ outdir }), config, options));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** One stack's Terraform JSON, synthesized in memory (without construct-path metadata). */
export function synthStack(id: StackId, config: InfraConfig, options: BuildOptions = {}): unknown {
  return withStacks(
    config,
    (stacks) => JSON.parse(Testing.synth(stacks[id] as TerraformStack)) as unknown,
    options,
  );
}

export interface SynthesizedApp {
  /** A cdktf.out-like folder: stacks/<id>/cdk.tf.json. */
  readonly outdir: string;
  stackDir(id: StackId): string;
  json(id: StackId): unknown;
  cleanup(): void;
}

/**
 * Synthesizes every stack to disk as `cdktf synth` does (construct paths in the metadata), after `change`
 * edits the built stacks.
 */
export function synthApp(
  config: InfraConfig,
  change: (stacks: Stacks) => void = () => undefined,
): SynthesizedApp {
  const outdir = mkdtempSync(join(tmpdir(), "spillway-synth-"));
  const app = new App({ outdir });
  change(buildStacks(app, config));
  app.synth();
  const stackDir = (id: StackId) => join(outdir, "stacks", id);
  return {
    outdir,
    stackDir,
    json: (id) => JSON.parse(readFileSync(join(stackDir(id), "cdk.tf.json"), "utf8")) as unknown,
    cleanup: () => {
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}

/** A resource inside a construct, for an escape-hatch override. */
const child = (scope: Construct, id: string) => scope.node.findChild(id) as TerraformResource;

/**
 * Mistakes the policies and linters must catch, each applied to the real stacks the way someone would
 * make it: an escape-hatch override or one extra resource.
 */
export const badVariants = {
  /** The bucket's public-access block lifted and a public-read ACL added. */
  publicS3Bucket: (s: Stacks) => {
    const stack = s["aws-spot"];
    child(stack.bucket, "public-access").addOverride("block_public_acls", false);
    new S3BucketAcl(stack, "public-acl", { bucket: stack.bucket.bucket.id, acl: "public-read" });
  },
  /** allUsers may read the GCS bucket. */
  publicGcsBucket: (s: Stacks) => {
    const stack = s["gcp-spot"];
    new StorageBucketIamMember(stack, "everyone", {
      bucket: stack.bucket.bucket.name,
      role: "roles/storage.objectViewer",
      member: "allUsers",
    });
  },
  /** The base firewall lets the world in on SSH. */
  sshOpenToWorld: (s: Stacks) => {
    s["hetzner-base"].base.firewall.addOverride("rule", [
      { direction: "in", protocol: "tcp", port: "22", source_ips: ["0.0.0.0/0"] },
    ]);
  },
  /** A GCP firewall opening the Kubernetes API to the world. */
  apiOpenToWorld: (s: Stacks) => {
    new ComputeFirewall(s["gcp-spot"], "debug-api", {
      name: "debug-api",
      network: "default",
      sourceRanges: ["0.0.0.0/0"],
      allow: [{ protocol: "tcp", ports: ["6443"] }],
    });
  },
  /** An admin policy on the node role. */
  wildcardIam: (s: Stacks) => {
    const stack = s["aws-spot"];
    new IamRolePolicy(stack, "admin", {
      role: stack.pool.role.id,
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
      }),
    });
  },
  /** The Auto Scaling group buys on-demand capacity. */
  onDemandAwsPool: (s: Stacks) => {
    s["aws-spot"].pool.group.addOverride(
      "mixed_instances_policy.instances_distribution.on_demand_percentage_above_base_capacity",
      100,
    );
  },
  /** The instance template is standard, not spot. */
  standardGcpTemplate: (s: Stacks) => {
    const template = child(s["gcp-spot"].pool, "template");
    template.addOverride("scheduling.provisioning_model", "STANDARD");
    template.addOverride("scheduling.preemptible", false);
  },
  /** An input nothing uses (tflint's terraform_unused_declarations). */
  unusedInput: (s: Stacks) => {
    new TerraformVariable(s["gcp-spot"], "forgotten", { type: "string" });
  },
  /** hetzner-base asks for a provider release the mirror does not have. */
  missingProvider: (s: Stacks) => {
    s["hetzner-base"].addOverride("terraform.required_providers.hcloud.version", "9.9.9");
  },
} satisfies Record<string, (s: Stacks) => void>;
