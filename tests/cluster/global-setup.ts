import type { TestProject } from "vitest/node";
import { down, isRunning, up } from "../../testbed/cluster/cluster.js";

/**
 * Brings up the local control plane unless one is already running (then it is reused and left running).
 * Its kubeconfig reaches tests through `inject("kubeconfig")`.
 */
export default async function setup(project: TestProject) {
  const reused = await isRunning();
  const cluster = await up({
    log: (l) => {
      console.log(`[cluster] ${l}`);
    },
  });
  project.provide("kubeconfig", cluster.kubeconfig);
  return async () => {
    if (!reused) await down();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}
