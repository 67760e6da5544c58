import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../../../src/lib/paths.js";
import { LOG_LEVELS, loadOperatorConfig, parseOperatorConfig } from "../../../src/operator/config.js";

// The chart renders the operator's config file from values.yaml: its defaults and the operator's own must
// be the same, or a chart install and `npm run operator` behave differently.
const chart = join(repoRoot, "charts", "spillway");
const values = parse(readFileSync(join(chart, "values.yaml"), "utf8")) as { operator: Record<string, any> };
const schema = JSON.parse(readFileSync(join(chart, "values.schema.json"), "utf8"));

describe("operator config and the chart", () => {
  const defaults = parseOperatorConfig({});
  const op = values.operator;

  it("has the same defaults in values.yaml as in the operator", () => {
    expect({
      workers: op.workers,
      resyncSeconds: op.resyncSeconds,
      drainGraceSeconds: op.drainGraceSeconds,
      modelCacheSize: op.modelCacheSize,
      logLevel: op.logLevel,
      defaultImage: op.inferenceImage,
      leaseDurationSeconds: op.leaderElection.leaseDurationSeconds,
      renewSeconds: op.leaderElection.renewSeconds,
      load: op.load,
      pools: op.pools,
    }).toEqual({
      workers: defaults.workers,
      resyncSeconds: defaults.resyncSeconds,
      drainGraceSeconds: defaults.drainGraceSeconds,
      modelCacheSize: defaults.modelCacheSize,
      logLevel: defaults.logLevel,
      defaultImage: defaults.defaultImage,
      leaseDurationSeconds: defaults.leaderElection.leaseDurationSeconds,
      renewSeconds: defaults.leaderElection.renewSeconds,
      load: { intervalSeconds: defaults.load.intervalSeconds },
      pools: {
        intervalSeconds: defaults.pools.intervalSeconds,
        joinTimeoutSeconds: defaults.pools.joinTimeoutSeconds,
        backoffSeconds: defaults.pools.backoffSeconds,
        emptyNodeCooldownSeconds: defaults.pools.emptyNodeCooldownSeconds,
        interruptionsToBackoff: defaults.pools.interruptionsToBackoff,
        interruptionForceDrainSeconds: defaults.pools.interruptionForceDrainSeconds,
      },
    });
  });

  it("allows the same log levels in values.schema.json as the operator", () => {
    expect(schema.properties.operator.properties.logLevel.enum).toEqual([...LOG_LEVELS]);
    expect(() => parseOperatorConfig({ logLevel: "loud" })).toThrow(/logLevel/);
  });

  it("names a config file it cannot read", () => {
    expect(() => loadOperatorConfig("/nonexistent/operator.yaml")).toThrow(
      "/nonexistent/operator.yaml: cannot read the config file (ENOENT)",
    );
  });
});
