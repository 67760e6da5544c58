#!/usr/bin/env node
/**
 * The `spillway` command. Subcommands are small modules; this file only dispatches and turns a
 * UserError into one line naming the cause and one naming the fix.
 */
import { UserError } from "./lib/errors.js";

const USAGE = `usage: spillway <command>

  cluster up|down|status    local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes)
  emulators up|down|status  AWS emulator on 127.0.0.1:4566 and fake-gcs-server on 127.0.0.1:4443
  serve --model FILE_OR_URI the inference server (see \`spillway serve --help\`)
  test [--tier T ...]       the test tiers, one JSON report (see \`spillway test --help\`)
  smoke --cloud C           provision a spot node, serve a model, one chat completion, tear down (see \`spillway smoke --help\`)
  load --url URL            bounded load against an OpenAI-compatible server (see \`spillway load --help\`)
`;

type Command = (args: string[]) => Promise<unknown>;

const commands: Record<string, () => Promise<Command>> = {
  cluster: async () => (await import("./commands/cluster.js")).run,
  emulators: async () => (await import("./commands/emulators.js")).run,
  serve: async () => (await import("../inference/main.js")).serve,
  load: async () => (await import("./commands/load.js")).run,
  test: async () => (await import("./commands/test.js")).run,
  smoke: async () => (await import("./commands/smoke.js")).run,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : commands[name];
  if (!load) {
    process.stderr.write(USAGE);
    return name === undefined || name === "help" || name === "--help" ? 0 : 3;
  }
  try {
    await (
      await load()
    )(rest);
    // A command that finished but has a verdict (a failed test) sets process.exitCode itself.
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`spillway ${name}: ${err.message}\n  fix: ${err.fix}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
