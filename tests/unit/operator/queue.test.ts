import { describe, expect, it } from "vitest";
import { WorkQueue } from "../../../src/operator/queue.js";

describe("WorkQueue", () => {
  it("deduplicates queued keys and hands them out in order", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.length).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
  });

  it("never hands out a key being processed; an add meanwhile reprocesses it after", async () => {
    const q = new WorkQueue();
    q.add("a");
    const key = await q.get();
    q.add("a");
    expect(q.length).toBe(0);
    q.done(key!, true);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe("a");
  });

  it("requeues failures with exponential backoff, reset on success", () => {
    const timers: number[] = [];
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 350, setTimer: (_fn, ms) => timers.push(ms) });
    for (let i = 0; i < 4; i++) q.done("a", false);
    expect(timers).toEqual([100, 200, 350, 350]);
    q.done("a", true);
    q.done("a", false);
    expect(timers.at(-1)).toBe(100);
  });

  it("wakes a waiting worker on add and releases workers on shutdown", async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add("x");
    expect(await waiting).toBe("x");
    const idle = q.get();
    q.shutdown();
    expect(await idle).toBeUndefined();
  });
});
