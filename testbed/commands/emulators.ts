import { AWS_ENDPOINT, COMPUTE_ENDPOINT, GCS_ENDPOINT, down, isRunning, up } from "../emulators.js";
import { UserError } from "../../src/lib/errors.js";

const log = (line: string) => {
  process.stderr.write(`[emulators] ${line}\n`);
};

export async function run(args: string[]): Promise<void> {
  switch (args[0]) {
    case "up":
      await up(log);
      process.stdout.write(
        `export AWS_ENDPOINT_URL=${AWS_ENDPOINT} STORAGE_EMULATOR_HOST=${GCS_ENDPOINT} COMPUTE_ENDPOINT=${COMPUTE_ENDPOINT}\n`,
      );
      return;
    case "down":
      await down();
      log("stopped");
      return;
    case "status":
      process.stdout.write(`${(await isRunning()) ? "running" : "stopped"}\n`);
      return;
    default:
      throw new UserError(
        `unknown subcommand '${args[0] ?? ""}'`,
        "use: spillway emulators up|down|status",
        3,
      );
  }
}
