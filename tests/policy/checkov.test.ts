import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../../src/lib/paths.js";
import { STACK_IDS } from "../../infra/stacks/index.js";
import { badVariants } from "../../infra/testing.js";
import { synthAppsForFile } from "../helpers/infra.js";
import { checkov, type CheckovFinding, type CheckovReport } from "../helpers/policy.js";

const SKIPS_FILE = join(repoRoot, "infra", "checkov-skips.yaml");

interface AcceptedFinding {
  check: string;
  resource: string;
  reason: string;
}

/** infra/checkov-skips.yaml; an entry without a check, a construct path or a reason is refused. */
function acceptedFindings(): AcceptedFinding[] {
  const entries = parse(readFileSync(SKIPS_FILE, "utf8")) as Partial<AcceptedFinding>[];
  return entries.map((e, i) => {
    if (!e.check || !e.resource?.includes("/") || !e.reason?.trim()) {
      throw new Error(`${SKIPS_FILE} entry ${i + 1} needs a check, a construct path and a reason`);
    }
    return { check: e.check, resource: e.resource, reason: e.reason };
  });
}

const label = (f: Pick<CheckovFinding, "check" | "resource">) => `${f.check} ${f.resource}`;

/** The real stacks with `change` applied, synthesized to disk, removed after this file's tests. */
const variant = synthAppsForFile();

describe("checkov over the synthesized stacks (offline)", () => {
  const accepted = acceptedFindings();
  // One checkov run for every stack: its start-up is most of its time.
  let report: Promise<CheckovReport> | undefined;
  const real = () => (report ??= checkov(variant()));

  it.each(STACK_IDS)(
    "%s: every finding is fixed or accepted with a reason in infra/checkov-skips.yaml",
    async (id) => {
      const { findings, parseErrors } = await real();
      expect(parseErrors, "checkov could not parse the stack").not.toContain(id);
      const mine = findings.filter((f) => f.stack === id).map(label);
      const acceptedHere = accepted.filter((a) => a.resource.startsWith(`${id}/`)).map(label);
      expect(
        mine.filter((f) => !acceptedHere.includes(f)),
        "findings to fix in the stack, or to accept with a reason",
      ).toEqual([]);
      expect(
        acceptedHere.filter((a) => !mine.includes(a)),
        "entries in infra/checkov-skips.yaml that match no finding any more",
      ).toEqual([]);
    },
  );

  it("judges the AWS and GCP stacks (checkov has no checks for hcloud: OPA covers hetzner-base)", async () => {
    const { passed } = await real();
    expect(passed["aws-spot"]).toBeGreaterThan(50);
    expect(passed["gcp-spot"]).toBeGreaterThan(10);
  });

  it("never reaches the network: the proxy it is given sees no request", async () => {
    expect((await real()).network).toEqual([]);
  });

  it("reports what it is there for: a bucket with public ACLs allowed and a public-read ACL", async () => {
    const { findings } = await checkov(variant(undefined, badVariants.publicS3Bucket), ["aws-spot"]);
    expect(findings.map(label)).toEqual(
      expect.arrayContaining([
        "CKV_AWS_53 aws-spot/models/public-access",
        "CKV_AWS_20 aws-spot/models/bucket",
      ]),
    );
  });
});
