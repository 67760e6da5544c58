/**
 * A keyed work queue in the manner of client-go's: a key is queued at most once; a key being processed is
 * never handed out twice at once, and if it is added meanwhile it is processed again afterwards; failures
 * come back after an exponential backoff per key, reset on success.
 */
export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected for tests. */
  setTimer?: (fn: () => void, ms: number) => unknown;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(private readonly opts: QueueOptions = {}) {}

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
  }

  /** Resolves with the next key to process, or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key processed; `ok: false` requeues it after its backoff. */
  done(key: string, ok: boolean): number | undefined {
    this.processing.delete(key);
    let delay: number | undefined;
    if (ok) this.failures.delete(key);
    else {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      delay = Math.min(this.opts.maxDelayMs ?? 60_000, (this.opts.baseDelayMs ?? 100) * 2 ** (n - 1));
      (this.opts.setTimer ?? setTimeout)(() => {
        this.add(key);
      }, delay);
    }
    if (this.dirty.delete(key)) this.add(key);
    return delay;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
