import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { GoogleAuth } from "google-auth-library";
import type { BurstPoolSpec } from "../../api/burst-pool.js";
import type { GroupState, Instance } from "./decide.js";
import type { PoolDriver } from "./driver.js";

/**
 * GCP regional managed instance groups, through the Compute Engine REST API (v1): read the target size
 * and `listManagedInstances`, `resize` up, `deleteInstances` of one named VM down. Every mutation carries
 * a requestId that its retries reuse, so a call that timed out and is sent again is applied once.
 * Credentials: Application Default Credentials (workload identity, a key file); `endpoint` points at
 * another server (no credentials are sent then).
 */

const COMPUTE = "https://compute.googleapis.com/compute/v1";

interface ManagedInstance {
  instance?: string;
  instanceStatus?: string;
  currentAction?: string;
}

export class GcpPoolDriver implements PoolDriver {
  private readonly auth: GoogleAuth | undefined;
  /** VM name → its URL, from the last listing: deleteInstances wants the URL. */
  private readonly urls = new Map<string, string>();

  constructor(private readonly o: { endpoint?: string; timeoutMs: number; retries?: number }) {
    this.auth = o.endpoint
      ? undefined
      : new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/compute"] });
  }

  private mig(pool: BurstPoolSpec) {
    if (!pool.project) throw new Error(`BurstPool of group ${pool.group} names no project`);
    return `${this.o.endpoint ?? COMPUTE}/projects/${pool.project}/regions/${pool.region}/instanceGroupManagers/${pool.group}`;
  }

  private async call<T>(method: "GET" | "POST", url: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.auth) headers.authorization = `Bearer ${await this.auth.getAccessToken()}`;
    const attempts = (this.o.retries ?? 2) + 1;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.o.timeoutMs),
        });
      } catch (err) {
        if (attempt < attempts) {
          await sleep(200 * 2 ** attempt);
          continue;
        }
        throw new Error(`${method} ${url}: ${(err as Error).message}`, { cause: err });
      }
      if (res.ok) return (await res.json()) as T;
      if ((res.status >= 500 || res.status === 429) && attempt < attempts) {
        await sleep(200 * 2 ** attempt);
        continue;
      }
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // not JSON: the text itself
      }
      // A refused token and a missing permission both mean the credentials need fixing, not the call.
      const credentials = res.status === 401 || res.status === 403 ? "credentials refused: " : "";
      throw new Error(`${res.status} ${credentials}${message}`);
    }
  }

  async describe(pool: BurstPoolSpec): Promise<GroupState> {
    const mig = this.mig(pool);
    const group = await this.call<{ targetSize?: number }>("GET", mig);
    const list = await this.call<{ managedInstances?: ManagedInstance[] }>(
      "POST",
      `${mig}/listManagedInstances`,
    );
    const instances = (list.managedInstances ?? []).flatMap((m): Instance[] => {
      const name = m.instance?.split("/").at(-1);
      if (!name || !m.instance) return [];
      this.urls.set(name, m.instance);
      return [{ id: name, state: state(m) }];
    });
    return { desired: group.targetSize ?? 0, instances };
  }

  async setDesired(pool: BurstPoolSpec, desired: number): Promise<void> {
    await this.call("POST", `${this.mig(pool)}/resize?size=${desired}&requestId=${randomUUID()}`);
  }

  async terminate(pool: BurstPoolSpec, instanceId: string): Promise<void> {
    if (!this.urls.has(instanceId)) await this.describe(pool);
    const url = this.urls.get(instanceId);
    if (!url) return; // not in the group any more: nothing to delete
    // deleteInstances lowers the group's target size with each VM it deletes.
    await this.call("POST", `${this.mig(pool)}/deleteInstances?requestId=${randomUUID()}`, {
      instances: [url],
      skipInstancesOnValidationError: true,
    });
    this.urls.delete(instanceId);
  }
}

function state(m: ManagedInstance): Instance["state"] {
  const action = m.currentAction ?? "NONE";
  if (["DELETING", "ABANDONING", "STOPPING", "SUSPENDING"].includes(action)) return "terminating";
  if (action === "NONE" && m.instanceStatus === "RUNNING") return "running";
  // STOPPING: a preempted VM in its soft off (the group has no action for it yet).
  if (["STOPPING", "STOPPED", "TERMINATED", "SUSPENDING", "SUSPENDED"].includes(m.instanceStatus ?? ""))
    return "terminating";
  return "pending";
}
