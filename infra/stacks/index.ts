import type { App } from "cdktf";
import type { InfraConfig } from "../config/schema.js";
import { AwsSpotStack } from "./aws-spot.js";
import { GcpSpotStack } from "./gcp-spot.js";
import { HetznerBaseStack } from "./hetzner-base.js";

export const STACK_IDS = ["hetzner-base", "aws-spot", "gcp-spot"] as const;
export type StackId = (typeof STACK_IDS)[number];

export interface BuildOptions {
  /** Deploy the AWS stack against this emulator endpoint. */
  readonly awsEndpoint?: string | undefined;
}

/** Every stack of one environment. The three are independent: each can be deployed on its own. */
export function buildStacks(app: App, config: InfraConfig, options: BuildOptions = {}) {
  return {
    "hetzner-base": new HetznerBaseStack(app, "hetzner-base", { config }),
    "aws-spot": new AwsSpotStack(app, "aws-spot", {
      config,
      ...(options.awsEndpoint ? { endpoint: options.awsEndpoint } : {}),
    }),
    "gcp-spot": new GcpSpotStack(app, "gcp-spot", { config }),
  } satisfies Record<StackId, unknown>;
}
