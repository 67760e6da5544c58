/**
 * The BurstPool resources that describe the spot stacks to the operator. Pure: from the config, and the
 * stacks' outputs when they have been deployed (`cdktf deploy --outputs-file`), which then must agree.
 */
import { API_VERSION } from "../../src/api/common.js";
import type { BurstPoolSpec } from "../../src/api/burst-pool.js";
import type { InfraConfig } from "../config/schema.js";
import { poolNames } from "./names.js";

export interface BurstPool {
  apiVersion: string;
  kind: "BurstPool";
  metadata: { name: string; labels: Record<string, string> };
  spec: BurstPoolSpec;
}

/** `cdktf deploy --outputs-file` JSON: stack id → output name → value. */
export type StackOutputs = Record<string, Record<string, unknown> | undefined>;

function groupName(outputs: StackOutputs | undefined, stack: string, key: string, expected: string): string {
  const deployed = outputs?.[stack]?.[key];
  if (deployed === undefined) return expected;
  if (deployed !== expected) {
    throw new Error(
      `${stack} output ${key} is ${JSON.stringify(deployed)} but the config names "${expected}": deploy the stack again or fix the config`,
    );
  }
  return deployed;
}

/** The aws-spot stack's interruption queue, once deployed (GCP spot nodes shut down gracefully instead). */
function interruptionQueue(outputs: StackOutputs | undefined, stack: string): { interruptionQueue?: string } {
  const url = outputs?.[stack]?.interruption_queue_url;
  return typeof url === "string" && url ? { interruptionQueue: url } : {};
}

/** Each spot stack, the output that names its group, and its part of the config. */
const SPOT_STACKS = [
  { provider: "aws", stack: "aws-spot", groupOutput: "asg_name" },
  { provider: "gcp", stack: "gcp-spot", groupOutput: "mig_name" },
] as const;

export function burstPools(config: InfraConfig, outputs?: StackOutputs): BurstPool[] {
  const names = poolNames(config);
  return SPOT_STACKS.map(({ provider, stack, groupOutput }) => {
    const cloud = config[provider];
    const name = names[provider];
    return {
      apiVersion: API_VERSION,
      kind: "BurstPool",
      metadata: { name, labels: { environment: config.environment } },
      spec: {
        provider,
        region: cloud.region,
        ...(provider === "gcp" ? { project: config.gcp.project } : {}),
        group: groupName(outputs, stack, groupOutput, name),
        nodeCapacity: cloud.nodeCapacity,
        minNodes: 0,
        maxNodes: cloud.maxNodes,
        hourlyPriceUsd: cloud.hourlyPriceUsd,
        ...interruptionQueue(outputs, stack),
      },
    };
  });
}
