import { parseArgs } from "node:util";
import { environmentConfigPath, InfraConfigError, loadConfig } from "../../../infra/config/schema.js";
import { UserError } from "../lib/errors.js";
import { writeReport } from "../lib/report-file.js";
import { CLOUDS, checkReachable, missingCredentials, type Cloud } from "../smoke/clouds.js";
import { smokeLocal, type SmokeReport } from "../smoke/run.js";
import { Steps } from "../smoke/steps.js";

export const USAGE = `usage: spillway smoke --cloud ${CLOUDS.join("|")} [options]

  --cloud C          where to provision the node (local: the local cluster and the AWS emulator)
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

/** `spillway smoke`: checks first, then the run; teardown always, on failure and on Ctrl-C too. */
export async function run(args: string[]): Promise<SmokeReport | undefined> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const o = parse(args);
  const missing = missingCredentials(o.cloud, process.env);
  if (missing) throw config(`no credentials for ${o.cloud}: missing ${missing}`, "export them and run again");
  const pool = o.cloud === "gcp" ? o.infra.gcp : o.infra.aws;
  await checkReachable(o.cloud, process.env, pool.region);
  if (o.cloud !== "local") {
    throw config(
      `--cloud ${o.cloud}: credentials and API checked; provisioning a real ${o.cloud} node is not built yet`,
      "use --cloud local, or deploy the stacks with cdktf deploy and watch the operator's BurstPool",
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

  const smoke = smokeLocal({
    cloud: o.cloud,
    namespace: o.namespace,
    hourlyPriceUsd: pool.hourlyPriceUsd,
    nodeCapacity: { cpu: String(pool.nodeCapacity.cpu), memory: String(pool.nodeCapacity.memory) },
    log,
  });
  let failure: unknown;
  try {
    await smoke.run(steps);
  } catch (err) {
    failure = err;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }
  const report: SmokeReport = {
    ...smoke.summary(),
    result: failure === undefined ? "passed" : "failed",
    error:
      failure === undefined ? null : failure instanceof Error ? failure.message : JSON.stringify(failure),
    steps: steps.records,
  };
  if (o.keep) {
    report.kept = {
      resources: steps.pendingTeardowns(),
      remove: `kubectl delete im -n ${o.namespace} -l spillway.dev/smoke=true, then the node and group named here`,
    };
  } else if (!(await steps.teardown()) && failure === undefined) {
    report.result = "failed";
    report.error = "teardown left something behind";
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
