/** Names and labels derived from the config: pure, so stacks, pools and policies agree on them. */
import type { InfraConfig } from "../config/schema.js";
import { K3S_API_PORT } from "./cloud-init.js";

/** `${project}-${environment}-${suffix}`: the prefix every cloud resource name starts with. */
export function resourceName(config: InfraConfig, suffix: string): string {
  return `${config.project}-${config.environment}-${suffix}`;
}

/**
 * Tags (AWS) and labels (GCP, Hetzner) on every taggable resource. The first three are required by the
 * security policy; keys and values fit the strictest of the three clouds (GCP: lowercase, no dots).
 */
export function commonLabels(config: InfraConfig): Record<string, string> {
  return {
    ...config.labels,
    project: config.project,
    environment: config.environment,
    "managed-by": "cdktf",
  };
}

/** The spot pools' names: the ASG / MIG name, and the BurstPool that describes it to the operator. */
export function poolNames(config: InfraConfig): { aws: string; gcp: string } {
  return {
    aws: resourceName(config, `spot-${config.aws.region}`),
    gcp: resourceName(config, `spot-${config.gcp.region}`),
  };
}

/** The k3s API every agent joins and every kubeconfig points at. */
export function apiEndpoint(config: InfraConfig): string {
  return `https://${config.cluster.apiHost}:${K3S_API_PORT}`;
}
