import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";

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

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
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

  private spec(acquire: boolean, prev?: V1Lease) {
    const now = new Date();
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: this.o.leaseDurationSeconds,
      renewTime: now,
      acquireTime: acquire ? now : (prev?.spec?.acquireTime ?? now),
      leaseTransitions: (prev?.spec?.leaseTransitions ?? 0) + (acquire && prev ? 1 : 0),
    } as V1Lease["spec"];
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.o;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
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
    await this.api.replaceNamespacedLease({
      name: this.o.name,
      namespace: this.o.namespace,
      body: {
        ...lease,
        spec: { ...lease.spec, holderIdentity: undefined, renewTime: undefined },
      },
    });
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let won = false;
    try {
      won = await this.tryAcquireOrRenew();
    } catch (err) {
      this.o.log.warn({ err: String(err) }, "lease update failed");
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
