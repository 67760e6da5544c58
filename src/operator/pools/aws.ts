import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import type { BurstPoolSpec } from "../../api/burst-pool.js";
import type { GroupState, Instance } from "./decide.js";
import type { PoolDriver } from "./driver.js";

export interface AwsOptions {
  /** An AWS endpoint other than the public one (an emulator). */
  endpoint?: string;
  /** Fixed credentials (an emulator's); default: the SDK's chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  timeoutMs: number;
}

/**
 * A getter of one SDK client per region, made on first use. Credentials come from the SDK's default chain
 * (IRSA, instance profile, the environment); the SDK retries throttling and 5xx itself.
 */
export function perRegion<T>(
  Client: new (config: Record<string, unknown>) => T,
  o: AwsOptions,
): (region: string) => T {
  const clients = new Map<string, T>();
  return (region) => {
    let c = clients.get(region);
    if (!c) {
      c = new Client({
        region,
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        ...(o.credentials ? { credentials: o.credentials } : {}),
        maxAttempts: 3,
        requestHandler: { requestTimeout: o.timeoutMs },
      });
      clients.set(region, c);
    }
    return c;
  };
}

/** AWS Auto Scaling groups. */
export class AwsPoolDriver implements PoolDriver {
  private readonly client: (region: string) => AutoScalingClient;

  constructor(o: AwsOptions) {
    this.client = perRegion(AutoScalingClient, o);
  }

  async describe(pool: BurstPoolSpec): Promise<GroupState> {
    const out = await this.client(pool.region).send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [pool.group] }),
    );
    const group = out.AutoScalingGroups?.[0];
    if (!group) throw new Error(`Auto Scaling group ${pool.group} does not exist in ${pool.region}`);
    return {
      desired: group.DesiredCapacity ?? 0,
      instances: (group.Instances ?? []).flatMap((i): Instance[] =>
        i.InstanceId ? [{ id: i.InstanceId, state: lifecycle(i.LifecycleState) }] : [],
      ),
    };
  }

  async setDesired(pool: BurstPoolSpec, desired: number): Promise<void> {
    await this.client(pool.region).send(
      new SetDesiredCapacityCommand({
        AutoScalingGroupName: pool.group,
        DesiredCapacity: desired,
        HonorCooldown: false,
      }),
    );
  }

  async terminate(pool: BurstPoolSpec, instanceId: string): Promise<void> {
    try {
      await this.client(pool.region).send(
        new TerminateInstanceInAutoScalingGroupCommand({
          InstanceId: instanceId,
          ShouldDecrementDesiredCapacity: true,
        }),
      );
    } catch (err) {
      // Already gone or going: what was asked for is done (a retry after a timeout lands here).
      if (/not found|terminat|not part of/i.test((err as Error).message)) return;
      throw err;
    }
  }
}

function lifecycle(state: string | undefined): Instance["state"] {
  if (!state) return "pending";
  if (/^Terminat|^Detach|^Standby/.test(state)) return "terminating";
  if (state === "InService") return "running";
  return "pending";
}
