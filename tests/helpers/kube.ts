import { randomBytes } from "node:crypto";

export { applyCrds, kubectlFor, type Kubectl } from "../../src/lib/kubectl.js";
/** Scale and spill-over tests run their pods on kwok's simulated nodes; see simulatedNamespace. */
export { simulatedNamespace } from "../../testbed/cluster/topology.js";

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
