import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import type { BurstPoolSpec } from "../../api/burst-pool.js";
import type { GroupState, Instance } from "./decide.js";
import type { PoolDriver } from "./driver.js";

/**
 * AWS Auto Scaling groups. Credentials come from the SDK's default chain (IRSA, instance profile, the
 * environment); `endpoint` (or AWS_ENDPOINT_URL) points it at an emulator.
 */
export class AwsPoolDriver implements PoolDriver {
  private readonly clients = new Map<string, AutoScalingClient>();

  constructor(private readonly o: { endpoint?: string; timeoutMs: number }) {}

  private client(region: string) {
    let c = this.clients.get(region);
    if (!c) {
      c = new AutoScalingClient({
        region,
        ...(this.o.endpoint ? { endpoint: this.o.endpoint } : {}),
        maxAttempts: 3,
        requestHandler: { requestTimeout: this.o.timeoutMs },
      });
      this.clients.set(region, c);
    }
    return c;
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
