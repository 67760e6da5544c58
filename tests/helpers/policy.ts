import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, tool } from "../../src/cli/lib/paths.js";

const execFileAsync = promisify(execFile);
export const POLICIES = join(repoRoot, "policies");

/** Runs the OPA CLI; resolves with stdout, rejects with OPA's own output on a non-zero exit. */
export async function opa(...args: string[]): Promise<string> {
  return (await execFileAsync(tool("opa"), args, { cwd: repoRoot, maxBuffer: 16 << 20 })).stdout;
}

export interface Denials {
  security: string[];
  cost: string[];
}

/** Every policy's denials for one synthesized stack (its cdk.tf.json). */
export async function denials(stackJson: string): Promise<Denials> {
  const out = await opa(
    "eval",
    "-d",
    POLICIES,
    "-i",
    stackJson,
    "-f",
    "json",
    '{"security": data.spillway.security.deny, "cost": data.spillway.cost.deny}',
  );
  const result = JSON.parse(out) as { result: { expressions: { value: Denials }[] }[] };
  return result.result[0]!.expressions[0]!.value;
}
