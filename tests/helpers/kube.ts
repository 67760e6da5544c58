import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { tool } from "../../src/cli/lib/paths.js";

const execFileAsync = promisify(execFile);

export interface Kubectl {
  (args: string[], input?: string): Promise<string>;
  json<T = unknown>(args: string[]): Promise<T>;
}

/** A kubectl bound to one kubeconfig; errors carry kubectl's stderr. */
export function kubectlFor(kubeconfig: string): Kubectl {
  const run = async (args: string[], input?: string) => {
    const p = execFileAsync(tool("kubectl"), ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 32 << 20 });
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

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

export interface PodList {
  items: {
    metadata: { name: string };
    spec: { nodeName?: string };
    status: { phase?: string; conditions?: { type: string; status: string; reason?: string }[] };
  }[];
}
