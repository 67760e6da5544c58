import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeModel } from "../../lib/gguf-fixture.js";

/** The sample model's bytes (a tiny GGUF, generated once per machine) and their sha256. */
export function sampleModelBytes(): { bytes: Buffer; sha256: string } {
  const dir = join(tmpdir(), "spillway-fixtures");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "tiny-42.gguf");
  if (!existsSync(path)) writeModel(path, "tiny", 42);
  const bytes = readFileSync(path);
  return { bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
}
