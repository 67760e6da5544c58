import { down, isRunning, up } from "../emulators.js";
import { UserError } from "../../src/lib/errors.js";

const log = (line: string) => {
  process.stderr.write(`[emulators] ${line}\n`);
};

export async function run(args: string[]): Promise<void> {
  switch (args[0]) {
    case "up":
      await up(log);
      process.stdout.write(
        "export AWS_ENDPOINT_URL=http://127.0.0.1:4566 STORAGE_EMULATOR_HOST=http://127.0.0.1:4443\n",
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
