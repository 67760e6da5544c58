import { UserError } from "../lib/errors.js";

/** A subcommand: loaded on first use, so `spillway load` never pays for the cloud SDKs. */
export type Command = (args: string[]) => Promise<unknown>;
export interface CommandEntry {
  /** One usage line: the synopsis, then what it does. */
  usage: [string, string];
  load: () => Promise<Command>;
}

/**
 * Runs `argv`'s command and returns the exit code; a UserError becomes one line naming the cause and one
 * naming the fix.
 */
export async function dispatch(commands: Record<string, CommandEntry>, argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const entry = name === undefined ? undefined : commands[name];
  if (!entry) {
    const width = Math.max(...Object.values(commands).map((c) => c.usage[0].length)) + 2;
    const lines = Object.values(commands).map((c) => `  ${c.usage[0].padEnd(width)}${c.usage[1]}`);
    process.stderr.write(`usage: spillway <command>\n\n${lines.join("\n")}\n`);
    return name === undefined || name === "help" || name === "--help" ? 0 : 3;
  }
  try {
    await (
      await entry.load()
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
