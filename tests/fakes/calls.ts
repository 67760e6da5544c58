/**
 * One method of a fake: the arguments of every call, cloned when it is made (so that a caller changing an
 * object afterwards does not rewrite what was asked), failed calls included, and errors to throw on the
 * next calls.
 */
export class Calls<A extends unknown[]> {
  readonly args: A[] = [];
  private failure: { err: unknown; times: number } | undefined;

  /** The next `times` calls throw `err` (after they are recorded). */
  failNext(err: unknown, times = 1): void {
    this.failure = { err, times };
  }

  /** Records a call; throws the injected error while one is left. */
  record(...args: A): void {
    this.args.push(structuredClone(args));
    const f = this.failure;
    if (!f) return;
    if (--f.times <= 0) this.failure = undefined;
    throw f.err;
  }

  /** The calls so far, forgotten (an injected error stays). */
  take(): A[] {
    return this.args.splice(0);
  }

  reset(): void {
    this.args.length = 0;
    this.failure = undefined;
  }
}

/** What `take` and `resetAll` need of each method, whatever its arguments. */
interface Method {
  take(): unknown[];
  reset(): void;
}

type Taken<T> = { [K in keyof T]?: T[K] extends Calls<infer A> ? A[] : never };

/**
 * The calls a fake received since the last take, by method, leaving out the methods it was not called on
 * and those in `except`; then forgets them (injected errors stay). Compared whole with `toEqual`, a test
 * fails on a call it did not expect as well as on one that is missing.
 */
export function take<T extends Record<string, Method>>(calls: T, except: (keyof T)[] = []): Taken<T> {
  const out: Record<string, unknown[]> = {};
  for (const [method, c] of Object.entries(calls)) {
    const args = c.take();
    if (args.length && !except.includes(method)) out[method] = args;
  }
  return out as Taken<T>;
}

/** Forgets every call and injected error of a fake: one list of its methods, so none is left out. */
export function resetAll(calls: Record<string, Method>): void {
  for (const c of Object.values(calls)) c.reset();
}
