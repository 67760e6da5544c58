import { UserError } from "../../lib/errors.js";

/**
 * The smoke run's bookkeeping: every step timed and recorded, and a teardown registered as soon as there
 * is something to tear down, run in reverse order whatever happens (a failed step, an exception, Ctrl-C).
 */

export interface StepRecord {
  name: string;
  status: "passed" | "failed" | "skipped";
  seconds: number;
  detail: string | null;
}

export class Steps {
  readonly records: StepRecord[] = [];
  private readonly teardowns: {
    name: string;
    run: () => Promise<unknown>;
    describe: ((value: unknown) => string) | undefined;
  }[] = [];

  constructor(private readonly log: (line: string) => void) {}

  /** Runs one step; a failure is recorded and rethrown, so later steps do not run. */
  async step<T>(name: string, run: () => Promise<T>, describe?: (value: T) => string): Promise<T> {
    const t0 = performance.now();
    this.log(`${name} ...`);
    try {
      const value = await run();
      const detail = describe?.(value) ?? null;
      this.record(name, "passed", t0, detail);
      return value;
    } catch (err) {
      this.record(name, "failed", t0, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /** Registers what undoes a step; call it before the step acts, so a half-done step is undone too. */
  onTeardown<T>(name: string, run: () => Promise<T>, describe?: (value: T) => string): void {
    this.teardowns.push({ name, run, describe: describe as ((value: unknown) => string) | undefined });
  }

  /** Runs every teardown, newest first; each failure is recorded and the rest still run. */
  async teardown(): Promise<boolean> {
    let clean = true;
    for (const t of this.teardowns.splice(0).reverse()) {
      await this.step(`teardown: ${t.name}`, t.run, t.describe).catch(() => (clean = false));
    }
    return clean;
  }

  /** What was registered but not run (`--keep`), for the user to remove later. */
  pendingTeardowns(): string[] {
    return this.teardowns.map((t) => t.name);
  }

  private record(name: string, status: StepRecord["status"], t0: number, detail: string | null) {
    const seconds = Math.round((performance.now() - t0) / 100) / 10;
    this.records.push({ name, status, seconds, detail });
    this.log(`${name}: ${status} in ${seconds} s${detail ? ` (${detail})` : ""}`);
  }
}

/** Polls until `check` returns a value; on timeout, fails with `onTimeout()`'s error. */
export async function poll<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  onTimeout: () => Promise<Error> | Error,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw await onTimeout();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A step's error that means "some infrastructure did not answer" (exit 2) rather than a failed check. */
export const unreachable = (message: string, fix: string) => new UserError(message, fix, 2);
