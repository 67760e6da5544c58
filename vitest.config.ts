import { defineConfig } from "vitest/config";

/**
 * One vitest project per test tier (tests/<tier>/); `npm run test:<tier>` runs one, `npm test` the
 * default set. Tiers that need real components start them in their global setup.
 */
const tier = (name: string, extra: Record<string, unknown> = {}) => ({
  test: {
    name,
    include: [`tests/${name}/**/*.test.ts`],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    ...extra,
  },
});

export default defineConfig({
  test: {
    projects: [
      tier("unit", { include: ["tests/unit/**/*.test.ts", "src/**/*.test.ts"] }),
      // One component with its real dependencies: llama.cpp on the fixture model, sockets, TLS, processes.
      tier("component"),
      tier("synth"),
      // The spillway command as a process: the test runner's report and exit codes.
      tier("cli", { testTimeout: 120_000 }),
      tier("policy"),
      // One shared control plane per run; files run one at a time so they do not race on cluster state.
      tier("cluster", { globalSetup: ["tests/cluster/global-setup.ts"], fileParallelism: false }),
      tier("image", {
        globalSetup: ["tests/image/global-setup.ts"],
        fileParallelism: false,
        testTimeout: 120_000,
      }),
      // The emulators, and the control plane for the tests where the operator drives cloud groups.
      tier("localstack", {
        globalSetup: ["tests/localstack/global-setup.ts", "tests/cluster/global-setup.ts"],
        fileParallelism: false,
      }),
      // The local cluster's real node: the chart's operator and model servers in real containers.
      tier("e2e", {
        globalSetup: ["tests/localstack/global-setup.ts", "tests/cluster/global-setup.ts"],
        fileParallelism: false,
        testTimeout: 240_000,
        hookTimeout: 300_000,
      }),
      // `spillway smoke --cloud local` against the emulators and the local cluster (its real node serves).
      tier("cloud", {
        globalSetup: ["tests/localstack/global-setup.ts", "tests/cluster/global-setup.ts"],
        fileParallelism: false,
        testTimeout: 120_000,
      }),
      tier("load", { fileParallelism: false, testTimeout: 300_000 }),
    ],
  },
});
