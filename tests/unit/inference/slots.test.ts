import { describe, expect, it } from "vitest";
import { ApiError } from "../../../src/inference/errors.js";
import { SlotPool } from "../../../src/inference/slots.js";

describe("SlotPool", () => {
  it("hands out free slots, then queues in FIFO order", async () => {
    const pool = new SlotPool(["a", "b"], 10);
    expect(await pool.acquire()).toBe("a");
    expect(await pool.acquire()).toBe("b");
    const order: string[] = [];
    const w1 = pool.acquire().then((s) => order.push(`1:${s}`));
    const w2 = pool.acquire().then((s) => order.push(`2:${s}`));
    expect(pool.queued).toBe(2);
    pool.release("b");
    pool.release("a");
    await Promise.all([w1, w2]);
    expect(order).toEqual(["1:b", "2:a"]);
    expect(pool.busy).toBe(2);
  });

  it("refuses with 429 and Retry-After once the queue is full", async () => {
    const pool = new SlotPool(["a"], 1, 3);
    await pool.acquire();
    void pool.acquire();
    const err = await pool.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ statusCode: 429, code: "queue_full", retryAfter: 3 });
  });

  it("drops an aborted waiter without giving it a slot", async () => {
    const pool = new SlotPool(["a"], 5);
    await pool.acquire();
    const ac = new AbortController();
    const waiting = pool.acquire(ac.signal);
    ac.abort(new Error("client gone"));
    await expect(waiting).rejects.toThrow("client gone");
    expect(pool.queued).toBe(0);
    pool.release("a");
    expect(pool.busy).toBe(0);
  });
});
