import { randomBytes } from "node:crypto";

export { applyCrds, kubectlFor, type Kubectl } from "../../src/cli/lib/kubectl.js";

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
