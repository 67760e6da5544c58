#!/usr/bin/env node
/**
 * `npm run spillway` in a checkout: the shipped command's subcommands plus the local test bed's (the
 * cluster, the emulators, the test runner) and `smoke --cloud local`, which runs on them.
 */
import { PRODUCT_COMMANDS } from "../src/cli/commands/index.js";
import { dispatch, type CommandEntry } from "../src/cli/dispatch.js";

const TESTBED_COMMANDS: Record<string, CommandEntry> = {
  cluster: {
    usage: [
      "cluster up|down|status",
      "local control plane (etcd, kube-apiserver, controller-manager, scheduler, real and kwok nodes)",
    ],
    load: async () => (await import("./commands/cluster.js")).run,
  },
  emulators: {
    usage: [
      "emulators up|down|status",
      "AWS emulator on 127.0.0.1:4566, fake-gcs-server on :4443, Compute stand-in on :4480",
    ],
    load: async () => (await import("./commands/emulators.js")).run,
  },
  test: {
    usage: ["test [--tier T ...]", "the test tiers, one JSON report (see `spillway test --help`)"],
    load: async () => (await import("./commands/test.js")).run,
  },
};

const commands: Record<string, CommandEntry> = {
  ...TESTBED_COMMANDS,
  ...PRODUCT_COMMANDS,
  smoke: {
    usage: PRODUCT_COMMANDS.smoke?.usage ?? ["smoke", ""],
    load: async () => {
      const [{ run }, { localTarget }] = await Promise.all([
        import("../src/cli/commands/smoke.js"),
        import("./smoke-local.js"),
      ]);
      return (args) => run(args, localTarget);
    },
  },
};

process.exitCode = await dispatch(commands, process.argv.slice(2));
