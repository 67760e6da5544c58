import { randomBytes } from "node:crypto";
import type { CoreV1Api } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { OperatorMetrics } from "./metrics.js";

/** An Event about a Spillway object, as `kubectl describe` shows it. */
export interface OperatorEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** Unset for cluster-scoped objects, whose Events live in the default namespace. */
  namespace?: string;
  uid?: string;
}

/**
 * Records Events. A failure to record one is logged and never fails the reconcile that caused it: the
 * status already says the same thing.
 */
export function eventRecorder(o: {
  core: CoreV1Api;
  log: Logger;
  metrics: OperatorMetrics;
  now: () => Date;
}): (about: InvolvedObject, e: OperatorEvent) => Promise<void> {
  return async (about, e) => {
    const namespace = about.namespace ?? "default";
    const now = o.now();
    await o.core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${about.name}.${randomBytes(6).toString("hex")}`, namespace },
          involvedObject: about,
          type: e.type,
          reason: e.reason,
          message: e.message,
          source: { component: "spillway-operator" },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .catch((err: unknown) => {
        o.log.warn({ err: String(err) }, "could not record event");
      });
    o.metrics.writes.inc({ kind: "Event" });
  };
}
