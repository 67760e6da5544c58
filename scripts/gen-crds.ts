/**
 * npm run crds: writes the CRDs generated from src/api into the chart (charts/spillway/crds), and their
 * reference into docs/crds.md. Unit tests fail when the committed files differ from what this would write.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderCrds } from "../src/api/render.js";
import { repoRoot } from "../src/lib/paths.js";
import { renderCrdDocs } from "./crd-docs.js";

for (const [file, text] of Object.entries(renderCrds())) {
  writeFileSync(join(repoRoot, "charts", "spillway", "crds", file), text);
  process.stderr.write(`wrote charts/spillway/crds/${file}\n`);
}
writeFileSync(join(repoRoot, "docs", "crds.md"), await renderCrdDocs());
process.stderr.write("wrote docs/crds.md\n");
