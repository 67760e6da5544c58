import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../src/lib/paths.js";
import { renderCrdDocs } from "../../scripts/crd-docs.js";

/**
 * The docs name paths and npm scripts; these tests fail when one of them stops existing, so a newcomer who
 * follows README → docs → folder never lands on nothing.
 */

const docs = [
  "README.md",
  "BENCHMARKS.md",
  ...readdirSync(join(repoRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/**
 * Top-level folders that commands create and a fresh clone lacks (`.run/cluster/kubeconfig`,
 * `.tools/venv`, `cdktf.out/stacks/…`): the docs name them as places things end up, not as repo paths.
 */
const CREATED = new Set([".tools", ".run", "cdktf.out", "node_modules", "dist"]);

/** Names at the repository root: a token whose first segment is one of these is a repo path. */
const ROOT = new Set(readdirSync(repoRoot).filter((n) => !CREATED.has(n) && n !== ".git"));

const scripts = Object.keys(
  (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> })
    .scripts,
);

interface Doc {
  file: string;
  text: string;
  /** Inline code spans and the lines of fenced code blocks. */
  code: string[];
  links: string[];
}

function read(file: string): Doc {
  const text = readFileSync(join(repoRoot, file), "utf8");
  const code: string[] = [];
  // Fenced blocks first, so their contents are not read as prose.
  const prose = text.replace(/^```[^\n]*\n([\s\S]*?)^```$/gm, (_, body: string) => {
    code.push(...body.split("\n"));
    return "";
  });
  const spans = prose.replace(/`([^`\n]+)`/g, (_, span: string) => {
    code.push(span);
    return " ";
  });
  const links = [...spans.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
  return { file, text, code, links };
}

const all = docs.map(read);

/** Repo paths in a code span or line: tokens whose first segment is a root name; placeholders cut off. */
function repoPaths(code: string): string[] {
  return code
    .split(/[\s'"(),;=|]+/)
    .map((t) => t.replace(/[.:]+$/, ""))
    .filter((t) => t.includes("/") && ROOT.has(t.split("/")[0]!))
    .map((t) => t.split(/[<*…]/)[0]!)
    .filter((t) => t.length > 0);
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

function anchors(file: string): Set<string> {
  const text = readFileSync(join(repoRoot, file), "utf8").replace(/^```[\s\S]*?^```$/gm, "");
  return new Set([...text.matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!)));
}

describe("docs", () => {
  it.each(all.map((d) => [d.file, d] as const))("every repository path %s names exists", (_, doc) => {
    const missing = [...new Set(doc.code.flatMap(repoPaths))].filter((p) => !existsSync(join(repoRoot, p)));
    expect(missing).toEqual([]);
  });

  it.each(all.map((d) => [d.file, d] as const))("every npm script %s names is in package.json", (_, doc) => {
    const named = [...doc.text.matchAll(/\bnpm (?:run(?: -s)? ([\w:-]+)|(test)\b)/g)].map(
      (m) => m[1] ?? m[2]!,
    );
    expect([...new Set(named)].filter((s) => !scripts.includes(s))).toEqual([]);
  });

  it.each(all.map((d) => [d.file, d] as const))("every relative link in %s resolves", (_, doc) => {
    const broken = doc.links
      .filter((l) => !/^[a-z]+:/i.test(l))
      .filter((link) => {
        const [path, anchor] = link.split("#") as [string, string | undefined];
        const target = path ? relative(repoRoot, join(repoRoot, dirname(doc.file), path)) : doc.file;
        if (!existsSync(join(repoRoot, target))) return true;
        return anchor !== undefined && target.endsWith(".md") && !anchors(target).has(anchor);
      });
    expect(broken).toEqual([]);
  });

  it("docs/crds.md is what src/api generates (run `npm run crds` after changing the API)", async () => {
    expect(readFileSync(join(repoRoot, "docs", "crds.md"), "utf8")).toBe(await renderCrdDocs());
  });
});
