import { existsSync } from "node:fs";
import { currentInferenceImage, imageExists } from "../lib/podman.js";
import { tool } from "../../src/lib/paths.js";
import { preflight } from "../cluster/real-node.js";
import type { ExitCode } from "./report.js";

/**
 * The test tiers `spillway test` knows (one vitest project each, tests/<tier>/) and what each needs
 * before it can start. A tier whose needs are not met is reported as not run, with the reason and the
 * exit code that says what kind of problem it is (3: set something up, 2: something does not answer).
 */

export interface Blocker {
  exitCode: ExitCode;
  reason: string;
}

interface Tier {
  /** Part of `npm test` and of `spillway test` without --tier. */
  default: boolean;
  needs: () => Promise<Blocker | undefined> | Blocker | undefined;
}

const CONTROL_PLANE = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
  "etcd",
  "kwok",
];
const EMULATORS = [
  process.env.SPILLWAY_AWS_EMULATOR === "localstack" ? "localstack-supervisor" : "moto_server",
  "fake-gcs-server",
];

function tools(names: string[]): Blocker | undefined {
  const missing = names.filter((n) => !existsSync(tool(n)));
  return missing.length
    ? { exitCode: 3, reason: `not installed: ${missing.join(", ")}; run \`npm run tools\`` }
    : undefined;
}

async function image(): Promise<Blocker | undefined> {
  const name = currentInferenceImage();
  return (await imageExists(name))
    ? undefined
    : { exitCode: 3, reason: `image ${name} is not built; run \`npm run image\`` };
}

async function realNodes(): Promise<Blocker | undefined> {
  const blocker = tools([...CONTROL_PLANE, ...EMULATORS]) ?? (await image());
  if (blocker) return blocker;
  const problem = preflight();
  return (
    problem && { exitCode: 2, reason: `the real node cannot run here: ${problem.cause} (${problem.fix})` }
  );
}

export const TIERS: Record<string, Tier> = {
  unit: { default: true, needs: () => undefined },
  component: { default: true, needs: () => undefined },
  synth: { default: true, needs: () => undefined },
  cli: { default: true, needs: () => undefined },
  policy: { default: true, needs: () => tools(["opa", "tflint", "tofu", "checkov", "actionlint"]) },
  cluster: { default: true, needs: () => tools(CONTROL_PLANE) },
  image: { default: true, needs: image },
  // Their stories run burst replicas on real spot nodes, which hang off the real base node.
  localstack: { default: false, needs: realNodes },
  e2e: { default: false, needs: realNodes },
  cloud: { default: false, needs: realNodes },
  load: { default: false, needs: () => undefined },
};

export const DEFAULT_TIERS = Object.keys(TIERS).filter((t) => TIERS[t]?.default);
