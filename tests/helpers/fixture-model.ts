import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeModel, type PresetName } from "../../src/lib/gguf-fixture.js";

/** A fixture model, generated once per machine (the generator is deterministic and writes atomically). */
export function fixtureModel(preset: PresetName = "tiny", seed = 42): string {
  const dir = join(tmpdir(), "spillway-fixtures");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${preset}-${seed}.gguf`);
  if (!existsSync(path)) writeModel(path, preset, seed);
  return path;
}
