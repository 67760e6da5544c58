import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tool } from "./paths.js";

const execFileAsync = promisify(execFile);

export interface Kubectl {
  (args: string[], input?: string): Promise<string>;
  json<T = unknown>(args: string[]): Promise<T>;
}

/** The pinned kubectl bound to one kubeconfig; `input` goes to stdin; errors carry kubectl's stderr. */
export function kubectlFor(kubeconfig: string): Kubectl {
  const run = async (args: string[], input?: string) => {
    const p = execFileAsync(tool("kubectl"), ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 256 << 20 });
    if (input !== undefined) p.child.stdin?.end(input);
    try {
      return (await p).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(" ")}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  };
  return Object.assign(run, {
    json: async <T>(args: string[]) => JSON.parse(await run([...args, "-o", "json"])) as T,
  });
}
