import { createServer } from "node:http";
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { loadOperatorConfig, planConfigOf, poolsConfigOf } from "./config.js";
import { Controller } from "./controller.js";
import { KeepAliveKubeConfig } from "./kube-config.js";
import { LeaderElector } from "./lease.js";
import { MetricsScraper } from "./load.js";
import { AwsPoolDriver } from "./pools/aws.js";
import { GcpPoolDriver } from "./pools/gcp.js";
import { InterruptionQueue } from "./pools/interruptions.js";
import { createOperatorMetrics } from "./metrics.js";

/**
 * The operator process: one validated config, a controller that runs only while this replica holds the
 * leader lease, /healthz /readyz /metrics, structured logs, and a graceful stop on SIGTERM (the lease is
 * released so a standby takes over at once).
 */
export async function runOperator(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: "string" }, kubeconfig: { type: "string" }, identity: { type: "string" } },
  });
  const config = loadOperatorConfig(values.config ?? process.env.SPILLWAY_OPERATOR_CONFIG);
  const log = pino({ level: config.logLevel, base: { component: "spillway-operator" } });
  const kubeConfig = new KeepAliveKubeConfig();
  const kubeconfigPath = values.kubeconfig ?? process.env.KUBECONFIG;
  if (kubeconfigPath) kubeConfig.loadFromFile(kubeconfigPath);
  else kubeConfig.loadFromCluster();
  const identity = values.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const metrics = createOperatorMetrics();

  let controller: Controller | undefined;
  const startController = async () => {
    controller = new Controller({
      kubeConfig,
      plan: planConfigOf(config),
      namespaces: config.namespaces,
      resyncSeconds: config.resyncSeconds,
      workers: config.workers,
      log,
      metrics,
      scraper: new MetricsScraper({ urlTemplate: config.load.metricsUrl, timeoutMs: config.load.timeoutMs }),
      loadIntervalSeconds: config.load.intervalSeconds,
      poolSelector: config.pools.selector,
      pools: {
        intervalSeconds: config.pools.intervalSeconds,
        config: poolsConfigOf(config),
        ...(config.pools.aws.enabled
          ? {
              interruptions: new InterruptionQueue({
                timeoutMs: config.pools.cloudTimeoutMs,
                ...(config.pools.aws.endpoint ? { endpoint: config.pools.aws.endpoint } : {}),
              }),
            }
          : {}),
        drivers: {
          ...(config.pools.aws.enabled
            ? {
                aws: new AwsPoolDriver({
                  timeoutMs: config.pools.cloudTimeoutMs,
                  ...(config.pools.aws.endpoint ? { endpoint: config.pools.aws.endpoint } : {}),
                }),
              }
            : {}),
          ...(config.pools.gcp.enabled
            ? {
                gcp: new GcpPoolDriver({
                  timeoutMs: config.pools.cloudTimeoutMs,
                  ...(config.pools.gcp.endpoint ? { endpoint: config.pools.gcp.endpoint } : {}),
                }),
              }
            : {}),
        },
      },
    });
    await controller.start();
    metrics.leader.set(1);
  };
  const stopController = async () => {
    metrics.leader.set(0);
    await controller?.stop();
    controller = undefined;
  };

  const elector = config.leaderElection.enabled
    ? new LeaderElector({
        kubeConfig,
        namespace: config.leaderElection.namespace,
        name: config.leaderElection.leaseName,
        identity,
        leaseDurationSeconds: config.leaderElection.leaseDurationSeconds,
        renewSeconds: config.leaderElection.renewSeconds,
        log,
        onStartedLeading: startController,
        onStoppedLeading: stopController,
      })
    : undefined;

  const probes = createServer((req, res) => {
    if (req.url === "/healthz") res.end("ok");
    // A standby is ready too: it serves probes and waits for the lease.
    else if (req.url === "/readyz") res.end(elector && !elector.isLeader ? "standby" : "ok");
    else if (req.url === "/metrics") {
      void metrics.registry.metrics().then((text) => {
        res.setHeader("content-type", metrics.registry.contentType);
        res.end(text);
      });
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => probes.listen(config.probePort, config.probeHost, resolve));
  const address = probes.address();
  log.info(
    { identity, probes: typeof address === "object" && address ? address.port : address },
    "operator started",
  );

  if (elector) elector.start();
  else await startController();

  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "stopping");
      void (elector ? elector.stop() : stopController())
        .then(() => new Promise((resolve) => probes.close(resolve)))
        .then(() => process.exit(0));
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // What fails before the operator starts is its invocation or its config: one line, exit 3.
  await runOperator(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`spillway operator: ${(err as Error).message}\n`);
    process.exit(3);
  });
}
