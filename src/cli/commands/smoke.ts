import { parseArgs } from "node:util";
import { environmentConfigPath, InfraConfigError, loadConfig } from "../../../infra/config/schema.js";
import { UserError } from "../../lib/errors.js";
import { writeReport } from "../../lib/report-file.js";
import { CLOUDS, checkReachable, missingCredentials, type Cloud } from "../smoke/clouds.js";
import { smoke, type SmokeReport } from "../smoke/run.js";
import { targetFor, type LocalTarget } from "../smoke/targets.js";
import { Steps } from "../smoke/steps.js";

export const USAGE = `usage: spillway smoke --cloud ${CLOUDS.join("|")} [options]

  --cloud C          whose spot pool gets the node (local: the local cluster and the AWS emulator;
                     aws, gcp: the fleet's BurstPool, in the cluster KUBECONFIG names; hetzner: the
                     checks only, the base has no spot pool)
  --config FILE      the fleet's infra config (default: infra/config/$SPILLWAY_ENV.yaml, dev)
  --namespace NS     where the smoke InferenceModel goes (default: default)
  --json FILE        also write the report to FILE
  --keep             leave everything up and print how to remove it
Exit: 0 passed, 1 a check failed, 2 infrastructure did not answer, 3 configuration error.
`;

const FLAGS = {
  cloud: { type: "string" },
  config: { type: "string" },
  namespace: { type: "string", default: "default" },
  json: { type: "string" },
  keep: { type: "boolean", default: false },
} as const;

const config = (message: string, fix = "see `spillway smoke --help`") => new UserError(message, fix, 3);

function parse(args: string[]) {
  let values;
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw config((err as Error).message.split("\n")[0] ?? String(err));
  }
  const cloud = values.cloud as Cloud | undefined;
  if (!cloud || !CLOUDS.includes(cloud)) {
    throw config(
      `--cloud must be one of ${CLOUDS.join(", ")}${values.cloud ? `, got '${values.cloud}'` : ""}`,
    );
  }
  const path = values.config ?? environmentConfigPath();
  try {
    return { ...values, cloud, infra: loadConfig(path) };
  } catch (err) {
    if (err instanceof InfraConfigError)
      throw config(err.message, `fix ${path} (see infra/config/schema.ts)`);
    throw err;
  }
}

/**
 * `spillway smoke`: checks first, then the run; teardown always, on failure and on Ctrl-C too. `local` is
 * the test bed's target, present only in a checkout.
 */
export async function run(args: string[], local?: LocalTarget): Promise<SmokeReport | undefined> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const o = parse(args);
  const missing = missingCredentials(o.cloud, process.env);
  if (missing) throw config(`no credentials for ${o.cloud}: missing ${missing}`, "export them and run again");
  const region = o.cloud === "gcp" ? o.infra.gcp.region : o.infra.aws.region;
  await checkReachable(o.cloud, process.env, region);
  if (o.cloud === "hetzner") {
    throw config(
      "--cloud hetzner: credentials and API checked; Hetzner runs the fleet's base, which has no spot pool to provision a node in",
      "smoke-test the spill-over with --cloud aws or --cloud gcp",
    );
  }

  const log = (line: string) => process.stderr.write(`[smoke] ${line}\n`);
  const steps = new Steps(log);
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: tearing down`);
    void steps.teardown().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  const target = targetFor(o.cloud, o.infra, process.env, local);
  const run = smoke({ cloud: o.cloud, namespace: o.namespace, target, log });
  let failure: unknown;
  try {
    await run.run(steps);
  } catch (err) {
    failure = err;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }
  const report: SmokeReport = {
    ...run.summary(),
    result: failure === undefined ? "passed" : "failed",
    error:
      failure === undefined ? null : failure instanceof Error ? failure.message : JSON.stringify(failure),
    steps: steps.records,
  };
  if (o.keep) {
    report.kept = {
      resources: steps.pendingTeardowns(),
      remove: `kubectl delete im -n ${o.namespace} -l spillway.dev/smoke=true; the operator then drains the spot node${
        o.cloud === "local" ? "; kubectl delete burstpool -l spillway.dev/smoke=true" : ""
      }`,
    };
  } else if (!(await steps.teardown()) && failure === undefined) {
    report.result = "failed";
    report.error = steps.records
      .filter((r) => r.name.startsWith("teardown: ") && r.status === "failed")
      .map((r) => `${r.name}: ${r.detail}`)
      .join("; ");
  }
  finish(report, o.json);
  if (failure instanceof UserError) throw failure;
  if (report.result === "failed")
    throw new UserError(report.error ?? "smoke run failed", "see the steps above", 1);
  return report;
}

function finish(report: SmokeReport, json: string | undefined) {
  const text = JSON.stringify(report, null, 2);
  process.stdout.write(`${text}\n`);
  if (json) writeReport(json, text);
}
