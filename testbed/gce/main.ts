/**
 * The Compute stand-in as a process, for `npm run emulators:up` (testbed/emulators.ts starts it with tsx):
 *
 *   tsx testbed/gce/main.ts [--port 4480] [--grace-seconds 30] [--boot-delay-ms 1000] [--stop-delay-ms 500]
 */
import { parseArgs } from "node:util";
import { UserError } from "../../src/lib/errors.js";
import { startComputeStandIn } from "./server.js";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "4480" },
    "grace-seconds": { type: "string" },
    "boot-delay-ms": { type: "string" },
    "stop-delay-ms": { type: "string" },
  },
});
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const graceSeconds = num(values["grace-seconds"]);
const bootDelayMs = num(values["boot-delay-ms"]);
const stopDelayMs = num(values["stop-delay-ms"]);

const standIn = await startComputeStandIn({
  host: values.host,
  port: Number(values.port),
  ...(graceSeconds === undefined ? {} : { graceSeconds }),
  ...(bootDelayMs === undefined ? {} : { bootDelayMs }),
  ...(stopDelayMs === undefined ? {} : { stopDelayMs }),
}).catch((err: unknown) => {
  // The cause and its fix, for the log tail the emulator's health check shows.
  const fix = err instanceof UserError ? `\n[compute]   fix: ${err.fix}` : "";
  process.stderr.write(`[compute] ERROR: ${err instanceof Error ? err.message : String(err)}${fix}\n`);
  process.exit(err instanceof UserError ? err.exitCode : 1);
});
process.stderr.write(`[compute] Compute stand-in on ${standIn.url} (API ${standIn.apiRoot})\n`);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    const violations = standIn.violations();
    if (violations.length)
      process.stderr.write(`[compute] schema violations: ${JSON.stringify(violations)}\n`);
    void standIn.close().then(() => process.exit(0));
  });
}
