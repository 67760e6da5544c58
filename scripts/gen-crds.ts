/**
 * npm run crds: writes the CRDs generated from src/api into the chart (charts/spillway/crds). A unit test
 * fails when the committed files differ from what this would write.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderCrds } from "../src/api/render.js";
import { repoRoot } from "../src/lib/paths.js";

for (const [file, text] of Object.entries(renderCrds())) {
  writeFileSync(join(repoRoot, "charts", "spillway", "crds", file), text);
  process.stderr.write(`wrote charts/spillway/crds/${file}\n`);
}
