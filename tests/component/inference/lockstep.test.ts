import { getLlama, LlamaCompletion, LlamaLogLevel, type Llama, type LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeInLockstep } from "../../../src/inference/lockstep.js";
import { fixtureModel } from "../../helpers/fixture-model.js";

// Guards the hook into node-llama-cpp's internals (docs/hooks.md): it must still be
// there, and still needed. Real llama.cpp, the tiny fixture, two streams of 16 tokens at once.
let llama: Llama;
let model: LlamaModel;
beforeAll(async () => {
  llama = await getLlama({ build: "never", gpu: false, logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: fixtureModel() });
});
afterAll(async () => {
  await model.dispose();
  await llama.dispose();
});

/** The tokens in each llama_decode call while two sequences generate 16 tokens each. */
async function decodeSizes(lockstep: boolean): Promise<number[]> {
  const context = await model.createContext({ contextSize: 512, sequences: 2, threads: 1 });
  // A test-only view into the native context: initBatch(n) precedes every decode of n tokens.
  const holder = context as unknown as { _ctx: Record<string | symbol, unknown> };
  const sizes: number[] = [];
  const native = holder._ctx;
  holder._ctx = new Proxy(native, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const fn = (value as (...args: unknown[]) => unknown).bind(target);
      return prop === "initBatch"
        ? (n: number) => {
            sizes.push(n);
            return fn(n);
          }
        : fn;
    },
  });
  const sequences = [context.getSequence(), context.getSequence()];
  if (lockstep) for (const s of sequences) expect(decodeInLockstep(s)).toBe(true);
  await Promise.all(
    sequences.map((s, i) =>
      new LlamaCompletion({ contextSequence: s }).generateCompletion(`stream ${i}: the model server`, {
        maxTokens: 16,
        temperature: 0,
      }),
    ),
  );
  await context.dispose();
  return sizes;
}

describe("lockstep decoding (src/inference/lockstep.ts)", () => {
  it("is still needed: without it two streams never share a decode", async () => {
    const sizes = await decodeSizes(false);
    expect(sizes.filter((n) => n === 1).length).toBeGreaterThanOrEqual(28);
  });

  it("puts both streams' tokens into every decode after the prompts", async () => {
    const sizes = await decodeSizes(true);
    expect(sizes.filter((n) => n === 2).length).toBeGreaterThanOrEqual(14);
    expect(sizes.length).toBeLessThanOrEqual(17);
  });
});
