/**
 * Writes the BurstPool resources of the spot stacks as YAML, for `kubectl apply -f`.
 *
 *   npm run infra:pools [-- --outputs cdktf-outputs.json] [--out pools.yaml]
 *
 * Reads the environment's config (SPILLWAY_ENV or SPILLWAY_CONFIG, as `cdktf synth` does) and, when
 * given, the outputs file of `cdktf deploy --outputs-file`, whose group names must match the config.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { InfraConfigError, loadConfig } from "../config/schema.js";
import { burstPools, type StackOutputs } from "../lib/pools.js";

const { values } = parseArgs({ options: { outputs: { type: "string" }, out: { type: "string" } } });
try {
  const config = loadConfig();
  const outputs = values.outputs
    ? (JSON.parse(readFileSync(values.outputs, "utf8")) as StackOutputs)
    : undefined;
  const yaml = burstPools(config, outputs)
    .map((pool) => stringify(pool))
    .join("---\n");
  const header = `# BurstPools of the ${config.environment} fleet, written by \`npm run infra:pools\`.\n`;
  if (values.out) writeFileSync(values.out, header + yaml);
  else process.stdout.write(header + yaml);
} catch (err) {
  console.error(err instanceof InfraConfigError ? err.message : `infra:pools: ${(err as Error).message}`);
  process.exit(3);
}
