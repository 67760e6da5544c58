/**
 * The BurstPool resources that describe the spot stacks to the operator. Pure: from the config, and the
 * stacks' outputs when they have been deployed (`cdktf deploy --outputs-file`), which then must agree.
 */
import { API_VERSION } from "../../src/api/common.js";
import type { BurstPoolSpec } from "../../src/api/burst-pool.js";
import { SPOT_TAINT_KEY } from "../../src/api/labels.js";
import type { InfraConfig } from "../config/schema.js";
import { burstNodeLabels } from "./cloud-init.js";
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

export function burstPools(config: InfraConfig, outputs?: StackOutputs): BurstPool[] {
  const names = poolNames(config);
  const taints = [{ key: SPOT_TAINT_KEY, value: "true", effect: "NoSchedule" as const }];
  const pools: BurstPool[] = [
    {
      apiVersion: API_VERSION,
      kind: "BurstPool",
      metadata: { name: names.aws, labels: { environment: config.environment } },
      spec: {
        provider: "aws",
        region: config.aws.region,
        group: groupName(outputs, "aws-spot", "asg_name", names.aws),
        nodeLabels: burstNodeLabels("aws", names.aws),
        nodeTaints: taints,
        nodeCapacity: config.aws.nodeCapacity,
        minNodes: 0,
        maxNodes: config.aws.maxNodes,
        hourlyPriceUsd: config.aws.hourlyPriceUsd,
      },
    },
    {
      apiVersion: API_VERSION,
      kind: "BurstPool",
      metadata: { name: names.gcp, labels: { environment: config.environment } },
      spec: {
        provider: "gcp",
        region: config.gcp.region,
        group: groupName(outputs, "gcp-spot", "mig_name", names.gcp),
        nodeLabels: burstNodeLabels("gcp", names.gcp),
        nodeTaints: taints,
        nodeCapacity: config.gcp.nodeCapacity,
        minNodes: 0,
        maxNodes: config.gcp.maxNodes,
        hourlyPriceUsd: config.gcp.hourlyPriceUsd,
      },
    },
  ];
  return pools;
}
