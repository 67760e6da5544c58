import type { BurstPoolSpec } from "../../src/api/burst-pool.js";
import type { GroupState } from "../../src/operator/pools/decide.js";
import type { PoolDriver } from "../../src/operator/pools/driver.js";
import type { InterruptionQueue, Notice } from "../../src/operator/pools/interruptions.js";
import { Calls, resetAll } from "./calls.js";

/**
 * A cloud's node groups, by group name, behaving as an ASG or MIG does for the controller: desired sizes
 * are set as asked (no instance launches until a test adds one), and a terminated instance leaves the group
 * with its size.
 */
export class FakePoolDriver implements PoolDriver {
  readonly groups = new Map<string, GroupState>();
  readonly calls = {
    describe: new Calls<[BurstPoolSpec]>(),
    setDesired: new Calls<[BurstPoolSpec, number]>(),
    terminate: new Calls<[BurstPoolSpec, string]>(),
  };

  describe(pool: BurstPoolSpec): Promise<GroupState> {
    return this.run(() => {
      this.calls.describe.record(pool);
      return structuredClone(this.group(pool));
    });
  }

  setDesired(pool: BurstPoolSpec, desired: number): Promise<void> {
    return this.run(() => {
      this.calls.setDesired.record(pool, desired);
      this.group(pool).desired = desired;
    });
  }

  terminate(pool: BurstPoolSpec, instanceId: string): Promise<void> {
    return this.run(() => {
      this.calls.terminate.record(pool, instanceId);
      const group = this.group(pool);
      const i = group.instances.findIndex((x) => x.id === instanceId);
      if (i < 0) throw new Error(`${instanceId} is not in ${pool.group}`);
      group.instances.splice(i, 1);
      group.desired--;
    });
  }

  reset(): void {
    resetAll(this.calls);
    this.groups.clear();
  }

  private group(pool: BurstPoolSpec): GroupState {
    const group = this.groups.get(pool.group);
    if (!group) throw new Error(`no group ${pool.group}`);
    return group;
  }

  /** Asynchronous like the real drivers: a thrown error becomes a rejection. */
  private async run<T>(fn: () => T): Promise<T> {
    await Promise.resolve();
    return fn();
  }
}

/** Interruption queues, by URL: each drain hands out the notices waiting and empties the queue. */
export class FakeInterruptions implements Pick<InterruptionQueue, "drain"> {
  readonly queues = new Map<string, Notice[]>();
  readonly calls = { drain: new Calls<[string, string]>() };

  async drain(region: string, queueUrl: string, handle: (n: Notice) => void): Promise<number> {
    await Promise.resolve();
    this.calls.drain.record(region, queueUrl);
    const notices = this.queues.get(queueUrl) ?? [];
    this.queues.delete(queueUrl);
    for (const n of notices) handle(n);
    return notices.length;
  }

  reset(): void {
    resetAll(this.calls);
    this.queues.clear();
  }
}
