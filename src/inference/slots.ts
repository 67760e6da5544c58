import { errors } from "./errors.js";

/**
 * A fixed pool of slots (llama.cpp sequences) behind a bounded FIFO queue. Requests take a free slot at
 * once, wait in arrival order when all are busy, and are refused with 429 once `maxQueue` are waiting.
 * A waiter whose signal aborts (client gone, timeout) leaves the queue without taking a slot.
 * A request takes the first free slot in the pool's order, so busy slots stay the first ones: llama.cpp
 * decodes sequences whose ids follow each other in one pass (lockstep.ts).
 */
/** A pool as the routes use it: a slot is opaque, taken and handed back. */
export interface Slots {
  readonly size: number;
  readonly busy: number;
  readonly queued: number;
  acquire(signal?: AbortSignal): Promise<unknown>;
  release(slot: unknown): void;
}

export class SlotPool<S> implements Slots {
  private readonly free: S[];
  private readonly waiters: {
    resolve: (slot: S) => void;
    reject: (err: unknown) => void;
    signal?: AbortSignal;
  }[] = [];
  private readonly order: Map<S, number>;

  constructor(
    slots: S[],
    private readonly maxQueue: number,
    /** Retry-After, seconds, sent with 429. */
    private readonly retryAfterSeconds = 1,
  ) {
    this.free = [...slots];
    this.order = new Map(slots.map((s, i) => [s, i]));
    this.size = slots.length;
  }

  readonly size: number;

  get busy(): number {
    return this.size - this.free.length;
  }

  get queued(): number {
    return this.waiters.length;
  }

  acquire(signal?: AbortSignal): Promise<S> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const slot = this.free.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    if (this.waiters.length >= this.maxQueue) return Promise.reject(errors.queueFull(this.retryAfterSeconds));
    return new Promise<S>((resolve, reject) => {
      const waiter = { resolve, reject, ...(signal ? { signal } : {}) };
      this.waiters.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) {
            this.waiters.splice(i, 1);
            reject(signal.reason as Error);
          }
        },
        { once: true },
      );
    });
  }

  release(slot: S): void {
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else {
      const at = this.order.get(slot) ?? 0;
      const i = this.free.findIndex((s) => (this.order.get(s) ?? 0) > at);
      this.free.splice(i < 0 ? this.free.length : i, 0, slot);
    }
  }
}
