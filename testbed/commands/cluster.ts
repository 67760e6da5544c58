import { UserError } from "../../src/lib/errors.js";
import { defaultStateDir, down, isRunning, up } from "../cluster/cluster.js";
import { AGENT, AGENT_LABEL, runAgent, startAgent } from "../cluster/spot-agent.js";
import { stopProcess } from "../lib/process.js";

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
    case "spot-nodes":
      return spotNodes(args[1]);
    default:
      throw new UserError(
        `unknown subcommand '${args[0] ?? ""}'`,
        "use: spillway cluster up|down|status|spot-nodes",
        3,
      );
  }
}

/** Real spot nodes for the BurstPools labelled for them (spot-agent.ts): up, down, or run in the foreground. */
async function spotNodes(action: string | undefined): Promise<void> {
  const stateDir = defaultStateDir();
  switch (action) {
    case "up": {
      if (!(await isRunning()))
        throw new UserError("the local cluster is not running", "run `npm run cluster:up`", 3);
      const pid = await startAgent(stateDir);
      log(
        `spot nodes follow aws BurstPools labelled ${AGENT_LABEL}=real (pid ${pid}, log ${stateDir}/logs/${AGENT}.log)`,
      );
      return;
    }
    case "down":
      await stopProcess(stateDir, AGENT, 60_000);
      log("spot nodes stopped");
      return;
    case "run":
      return runAgent(stateDir, (line) => {
        process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      });
    default:
      throw new UserError(
        `unknown action '${action ?? ""}'`,
        "use: spillway cluster spot-nodes up|down|run",
        3,
      );
  }
}
