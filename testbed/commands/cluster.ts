import { UserError } from "../../src/lib/errors.js";
import { defaultStateDir, down, isRunning, up } from "../cluster/cluster.js";

const log = (line: string) => {
  process.stderr.write(`[cluster] ${line}\n`);
};

export async function run(args: string[]): Promise<void> {
  switch (args[0]) {
    case "up": {
      const cluster = await up({ log });
      process.stdout.write(`export KUBECONFIG=${cluster.kubeconfig}\n`);
      return;
    }
    case "down":
      await down();
      log("stopped");
      return;
    case "status": {
      const running = await isRunning();
      process.stdout.write(`${running ? "running" : "stopped"} (${defaultStateDir()})\n`);
      if (!running) process.exitCode = 1;
      return;
    }
    default:
      throw new UserError(`unknown subcommand '${args[0] ?? ""}'`, "use: spillway cluster up|down|status", 3);
  }
}
