import type { BurstPoolSpec } from "../../api/burst-pool.js";
import type { GroupState } from "./decide.js";

/**
 * A cloud's node group, as the BurstPool controller uses it: read it, raise its desired size, remove one
 * named instance (and lower the size with it). Setting an absolute size is idempotent, so a retried call
 * never scales twice.
 */
export interface PoolDriver {
  describe(pool: BurstPoolSpec): Promise<GroupState>;
  setDesired(pool: BurstPoolSpec, desired: number): Promise<void>;
  terminate(pool: BurstPoolSpec, instanceId: string): Promise<void>;
}

export type PoolDrivers = Partial<Record<BurstPoolSpec["provider"], PoolDriver>>;

/** The instance a node runs on, from its providerID (`aws:///eu-central-1a/i-0abc`, `gce://p/zone/name`). */
export function instanceIdOf(providerID: string | undefined): string | undefined {
  if (!providerID) return undefined;
  const last = providerID.split("/").at(-1);
  return last || undefined;
}
