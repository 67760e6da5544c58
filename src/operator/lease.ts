import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { statusOf } from "./api-error.js";

/**
 * Leader election with a coordination.k8s.io Lease: only the holder reconciles, so two replicas never
 * both write. Updates carry the Lease's resourceVersion, so two candidates racing for an expired lease
 * cannot both win (the loser gets 409).
 */
export interface LeaseOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewSeconds: number;
  log: Logger;
  onStartedLeading: () => Promise<void>;
  onStoppedLeading: () => Promise<void>;
}

/**
 * Lease times are MicroTime: the API server wants six fractional digits, and the client would send a
 * Date with three. A string goes through its serializer unchanged.
 */
function microTime(d: Date | string | undefined = new Date()): Date {
  const iso = new Date(d).toISOString();
  return iso.replace(/\.(\d{3})Z$/, ".$1000Z") as unknown as Date;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;

  constructor(private readonly o: LeaseOptions) {
    this.api = o.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops trying; a leader gives the lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      await this.o.onStoppedLeading();
      await this.release().catch(() => undefined);
    }
  }

  private spec(acquire: boolean, prev?: V1Lease): V1Lease["spec"] {
    const now = microTime();
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: this.o.leaseDurationSeconds,
      renewTime: now,
      acquireTime: acquire || !prev?.spec?.acquireTime ? now : microTime(prev.spec.acquireTime),
      leaseTransitions: (prev?.spec?.leaseTransitions ?? 0) + (acquire && prev ? 1 : 0),
    };
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.o;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await this.api.createNamespacedLease({
        namespace,
        body: { metadata: { name, namespace }, spec: this.spec(true) },
      });
      return true;
    }
    const holder = lease.spec?.holderIdentity;
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const expired =
      Date.now() > renewed + (lease.spec?.leaseDurationSeconds ?? this.o.leaseDurationSeconds) * 1000;
    if (holder && holder !== this.o.identity && !expired) return false;
    await this.api.replaceNamespacedLease({
      name,
      namespace,
      body: {
        metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
        spec: this.spec(holder !== this.o.identity, lease),
      },
    });
    return true;
  }

  private async release(): Promise<void> {
    const lease = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    // An expired renewTime lets a standby take the lease at its next try instead of after the duration.
    await this.api.replaceNamespacedLease({
      name: this.o.name,
      namespace: this.o.namespace,
      body: {
        metadata: {
          name: this.o.name,
          namespace: this.o.namespace,
          resourceVersion: lease.metadata?.resourceVersion,
        },
        spec: {
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date(0)),
          ...(lease.spec.acquireTime ? { acquireTime: microTime(lease.spec.acquireTime) } : {}),
          ...(lease.spec.leaseTransitions !== undefined
            ? { leaseTransitions: lease.spec.leaseTransitions }
            : {}),
        },
      },
    });
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let won: boolean;
    try {
      won = await this.tryAcquireOrRenew();
      if (won) this.lastRenew = Date.now();
    } catch (err) {
      this.o.log.warn({ err: String(err) }, "lease update failed");
      // A leader rides out failed renewals until the renew deadline (2/3 of the lease), as client-go does;
      // before the lease can expire for the others it steps down.
      won = this.leading && Date.now() - this.lastRenew < (this.o.leaseDurationSeconds * 1000 * 2) / 3;
    }
    if (won && !this.leading) {
      this.leading = true;
      this.o.log.info({ lease: `${this.o.namespace}/${this.o.name}` }, "became leader");
      await this.o.onStartedLeading();
    } else if (!won && this.leading) {
      this.leading = false;
      this.o.log.warn("lost the leader lease; stopping the controller");
      await this.o.onStoppedLeading();
    }
    // stop() may have run while we awaited.
    if (!this.isStopped()) {
      this.timer = setTimeout(
        () => void this.tick(),
        (this.leading ? this.o.renewSeconds : Math.max(1, this.o.renewSeconds / 2)) * 1000,
      );
    }
  }
}
