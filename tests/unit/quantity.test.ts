import { describe, expect, it } from "vitest";
import { Quantity } from "../../src/api/common.js";
import { parseQuantity, QUANTITY_PATTERN, sameQuantity } from "../../src/api/quantity.js";

describe("quantities", () => {
  it.each([
    ["500m", 0.5],
    ["2", 2],
    ["1.5Gi", 1.5 * 2 ** 30],
    ["1024Mi", 2 ** 30],
    ["1e3", 1000],
    ["2.5e-1", 0.25],
    ["1e1.5", 10 ** 1.5],
    ["+.5k", 500],
    ["-2Ki", -2048],
  ])("reads %s", (q, value) => {
    expect(parseQuantity(q)).toBeCloseTo(value);
  });

  it.each(["abc", "1Gib", "1 Gi", "", "Gi", "1e"])("refuses %j, as the CRD's pattern does", (q) => {
    expect(parseQuantity(q)).toBeUndefined();
    expect(new RegExp(QUANTITY_PATTERN).test(q)).toBe(false);
  });

  it("validates in the CRDs with the pattern it reads by", () => {
    expect((Quantity as unknown as { pattern: string }).pattern).toBe(QUANTITY_PATTERN);
  });

  it("compares by value", () => {
    expect(sameQuantity("1024Mi", "1Gi")).toBe(true);
    expect(sameQuantity(2, "2")).toBe(true);
    expect(sameQuantity("0.1", "100m")).toBe(true);
    expect(sameQuantity("1Gi", "1G")).toBe(false);
  });
});
