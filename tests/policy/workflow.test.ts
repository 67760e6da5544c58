import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot, tool } from "../../src/lib/paths.js";

const execFileAsync = promisify(execFile);
const WORKFLOWS = join(repoRoot, ".github", "workflows");
const workflowFiles = readdirSync(WORKFLOWS)
  .filter((f) => f.endsWith(".yml"))
  .map((f) => join(WORKFLOWS, f));

interface ActionlintError {
  filepath: string;
  line: number;
  message: string;
  kind: string;
}

/**
 * actionlint's findings. shellcheck and pyflakes are off: actionlint runs whichever versions happen to be
 * on PATH (GitHub's runners have one, this machine none), so they would make the result machine-dependent.
 */
async function actionlint(...files: string[]): Promise<string[]> {
  const args = ["-format", "{{json .}}", "-shellcheck=", "-pyflakes=", ...files];
  const out = await execFileAsync(tool("actionlint"), args, { cwd: repoRoot }).then(
    (r) => r.stdout,
    (err: unknown) => {
      // Exit 1 only means "problems found"; anything else is actionlint failing.
      const failed = err as { code?: number; stdout?: string };
      if (failed.code === 1 && failed.stdout) return failed.stdout;
      throw err;
    },
  );
  return (JSON.parse(out) as ActionlintError[]).map(
    (e) => `${e.filepath}:${e.line}: ${e.message} [${e.kind}]`,
  );
}

/** Every shell command of a script: continuation lines joined, comments dropped, split at && || ; and |. */
function commandsOf(script: string): string[] {
  return script
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, ""))
    .flatMap((line) => line.split(/&&|\|\||;|\|/))
    .map((c) => c.trim().replace(/\s+/g, " "))
    .filter(Boolean);
}

const npmCommands = (script: string) => commandsOf(script).filter((c) => /^npm\s/.test(c));
const scripts = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

/** The npm script a command runs (`npm run X -- …` → X, `npm test` → test), if any. */
function scriptOf(command: string): string | undefined {
  return /^npm (?:run(?:-script)? (?:--silent )?([^\s]+)|(test|t|start|stop))\b/
    .exec(command)
    ?.slice(1)
    .find(Boolean);
}

/**
 * Test tiers a command runs: each `--tier T` it passes to `spillway test`, and each `--project T` of the
 * npm script it runs (`npm test`, `npm run test:localstack`, …).
 */
function tiersOf(command: string): string[] {
  const script = scriptOf(command);
  const text = `${command} ${script ? (scripts[script] ?? "") : ""}`;
  return [...text.matchAll(/--(?:tier|project)[= ]([\w-]+)/g)].map((m) => m[1]!);
}

const ciRun = npmCommands(readFileSync(join(repoRoot, ".ci", "run"), "utf8"));
const ciTiers = new Set(ciRun.flatMap(tiersOf));

interface Workflow {
  jobs: Record<string, { steps?: { run?: string }[] }>;
}

describe("GitHub Actions workflows (.github/workflows)", () => {
  it("actionlint finds nothing in them", async () => {
    expect(workflowFiles.length).toBeGreaterThan(0);
    expect(await actionlint(...workflowFiles)).toEqual([]);
  });

  it("actionlint reports what it is there for: an input the action does not have", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-workflow-"));
    try {
      const broken = join(dir, "broken.yml");
      const steps = "      - uses: actions/setup-node@v4\n        with:\n          node-versoin: 24\n";
      writeFileSync(broken, `on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n${steps}`);
      const findings = await actionlint(broken);
      expect(findings).toHaveLength(1);
      expect(findings[0]).toMatch(/input "node-versoin" is not defined/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe.each(workflowFiles.map((f) => [f.slice(repoRoot.length + 1), f]))("%s", (_, file) => {
    const workflow = parse(readFileSync(file, "utf8")) as Workflow;
    const commands = Object.values(workflow.jobs)
      .flatMap((job) => job.steps ?? [])
      .flatMap((step) => npmCommands(step.run ?? ""));

    it("runs only npm scripts that package.json has", () => {
      const missing = commands.filter((c) => {
        const script = scriptOf(c);
        return script !== undefined && !(script in scripts);
      });
      expect(missing, "npm commands naming a script package.json lacks").toEqual([]);
    });

    it("runs only npm commands .ci/run runs, and only tiers .ci/run runs", () => {
      expect(ciTiers.size, "no tier found in .ci/run").toBeGreaterThan(0);
      // Other npm commands (npm ci) must be ones CI runs too.
      const foreign = commands.filter((c) => scriptOf(c) === undefined && !ciRun.includes(c));
      expect(foreign, "npm commands .ci/run does not run").toEqual([]);
      const untested = commands.flatMap((c) =>
        tiersOf(c)
          .filter((t) => !ciTiers.has(t))
          .map((t) => `${c} (tier ${t})`),
      );
      expect(untested, `tiers .ci/run does not run (it runs ${[...ciTiers].join(", ")})`).toEqual([]);
    });
  });
});
