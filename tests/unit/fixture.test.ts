import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { vocabulary, writeModel } from "../../src/lib/gguf-fixture.js";

describe("GGUF fixture generator", () => {
  const dir = mkdtempSync(join(tmpdir(), "spillway-gguf-"));
  const hash = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

  it("writes the same bytes for the same seed and different ones for another", () => {
    writeModel(join(dir, "a.gguf"), "tiny", 7);
    writeModel(join(dir, "b.gguf"), "tiny", 7);
    writeModel(join(dir, "c.gguf"), "tiny", 8);
    expect(hash(join(dir, "a.gguf"))).toBe(hash(join(dir, "b.gguf")));
    expect(hash(join(dir, "a.gguf"))).not.toBe(hash(join(dir, "c.gguf")));
  });

  it("writes GGUF v3 with a ~0.5 MB tiny preset", () => {
    const bytes = readFileSync(join(dir, "a.gguf"));
    expect(bytes.subarray(0, 4).toString("latin1")).toBe("GGUF");
    expect(bytes.readUInt32LE(4)).toBe(3);
    expect(bytes.length).toBeGreaterThan(400_000);
    expect(bytes.length).toBeLessThan(800_000);
  });

  it("has an SPM vocabulary: <unk> <s> </s>, 256 byte tokens, then unique word pieces", () => {
    const v = vocabulary(512, 1);
    expect(v.tokens.slice(0, 3)).toEqual(["<unk>", "<s>", "</s>"]);
    expect(v.tokens[3]).toBe("<0x00>");
    expect(v.tokens[258]).toBe("<0xFF>");
    expect(v.types.slice(3, 259).every((t) => t === 6)).toBe(true);
    expect(new Set(v.tokens).size).toBe(512);
  });
});
