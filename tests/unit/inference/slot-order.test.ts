import type { BatchItem, Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { inSlotOrder, slotOrder } from "../../../src/inference/lockstep.js";
import { SlotPool } from "../../../src/inference/slots.js";

const item = (slot: number, tokens: number): BatchItem => ({
  tokens: Array.from({ length: tokens }, () => 7 as Token),
  logits: [],
  evaluationPriority: slotOrder(slot),
});

describe("slot order (one llama.cpp pass per step needs consecutive sequence ids, in order)", () => {
  it("batches items in slot order whatever order they queued in", () => {
    const out = inSlotOrder({ items: [item(2, 1), item(0, 1), item(1, 1)], size: 512 });
    expect(out.map((p) => p.item.evaluationPriority)).toEqual([1, 2, 3]);
    expect(out.map((p) => p.processAmount)).toEqual([1, 1, 1]);
  });

  it("shares the batch: single tokens first in order, the rest to a prompt, never over size", () => {
    const out = inSlotOrder({ items: [item(1, 300), item(0, 1), item(2, 400)], size: 512 });
    expect(out.map((p) => [p.item.evaluationPriority, p.processAmount])).toEqual([
      [1, 1],
      [2, 300],
      [3, 211],
    ]);
  });

  it("hands out the lowest free slot, so busy slots stay the first ones", async () => {
    const pool = new SlotPool([0, 1, 2, 3], 4);
    const [a, b, c] = [await pool.acquire(), await pool.acquire(), await pool.acquire()];
    expect([a, b, c]).toEqual([0, 1, 2]);
    pool.release(a);
    pool.release(c);
    expect(await pool.acquire()).toBe(0);
    expect(await pool.acquire()).toBe(2);
  });
});
