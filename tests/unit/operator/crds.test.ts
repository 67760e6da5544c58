import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderCrds } from "../../../src/api/render.js";
import { repoRoot } from "../../../src/lib/paths.js";

describe("CRDs", () => {
  it("the committed CRDs are what src/api generates (run `npm run crds` after changing the API)", () => {
    for (const [file, text] of Object.entries(renderCrds())) {
      expect(readFileSync(join(repoRoot, "charts", "spillway", "crds", file), "utf8"), file).toBe(text);
    }
  });
});
