import { describe, expect, it } from "vitest";
import { dequantize, fromHalf, GGML, quantize, rowBytes, toHalf } from "../../src/lib/ggml-quant.js";

// Uniform in [-1, 1), deterministic.
function values(n: number, seed = 1): Float32Array {
  let a = seed;
  return Float32Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2 ** 31;
    return a / 2 ** 30 - 1;
  });
}

function maxError(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("ggml block formats", () => {
  it("has llama.cpp's block sizes", () => {
    expect(rowBytes(GGML.Q8_0, 576)).toBe((576 / 32) * 34);
    expect(rowBytes(GGML.Q5_0, 576)).toBe((576 / 32) * 22);
    expect(rowBytes(GGML.Q4_K, 1536)).toBe((1536 / 256) * 144);
    expect(() => rowBytes(GGML.Q4_K, 576)).toThrow(/not a multiple of 256/);
  });

  it("round-trips f16", () => {
    for (const v of [0, 1, -2.5, 0.0001, 65504]) expect(fromHalf(toHalf(v))).toBeCloseTo(v, 3);
  });

  // Round-to-nearest error bounds: half a step of each format's grid over values in [-1, 1].
  it.each([
    ["Q8_0", GGML.Q8_0, 1 / 127],
    ["Q5_0", GGML.Q5_0, 1 / 16],
    ["Q4_K", GGML.Q4_K, 2 / 15 + 2 / 63],
  ] as const)("%s decodes within its step of the original", (_name, type, step) => {
    const x = values(1024);
    const y = dequantize(quantize(x, type), type, x.length);
    const err = maxError(x, y);
    expect(err).toBeLessThan(step);
    expect(err).toBeGreaterThan(0);
  });

  it("keeps zero rows zero (the fixture's non-text output rows)", () => {
    for (const type of [GGML.Q8_0, GGML.Q5_0, GGML.Q4_K]) {
      const y = dequantize(quantize(new Float32Array(256), type), type, 256);
      expect(y.every((v) => v === 0)).toBe(true);
    }
  });

  it("refuses a part of a block", () => {
    expect(() => quantize(new Float32Array(33), GGML.Q8_0)).toThrow(/not whole blocks of 32/);
  });
});
