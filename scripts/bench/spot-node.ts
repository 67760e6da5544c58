/**
 * npm run bench:spot-node [-- --runs 3]
 *
 * What a real spot node's boot costs on the local cluster (started unless running): from "instance in
 * service" to the node Ready with kube-proxy up, split into its steps, booted from the baked image (the
 * inference image already in containerd, as a production AMI would hold it) and without it (the image
 * imported at boot, as a node pulling it would). Median of `--runs` boots each, alternating, and the
 * resident memory of one node's containerd, kubelet and kube-proxy. Prints JSON.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "../../src/lib/stats.js";
import { kubectlFor } from "../../src/lib/kubectl.js";
import * as cluster from "../../testbed/cluster/cluster.js";
import { PAUSE_IMAGE } from "../../testbed/cluster/node-config.js";
import { bakedRoot } from "../../testbed/cluster/node-image.js";
import { bootSpotNode, removeSpotNode, type BootTimings } from "../../testbed/cluster/spot-node.js";
import { currentInferenceImage } from "../../testbed/lib/podman.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
const RUNS = Number(values.runs);
const bed = await cluster.up({ log: (l) => process.stderr.write(`[cluster] ${l}\n`) });
const kubectl = kubectlFor(bed.kubeconfig);
const dir = cluster.defaultStateDir();
const images = [PAUSE_IMAGE, currentInferenceImage()];
// The baked image is made once per image ID, like an AMI build: not part of a node's boot.
await bakedRoot(images);

const rss = (pidFile: string) => {
  const pid = readFileSync(pidFile, "utf8").trim();
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 1024);
};

const results: Record<"baked" | "imported", { seconds: number; steps: BootTimings }[]> = {
  baked: [],
  imported: [],
};
let memoryMb: Record<string, number> = {};
for (let r = 0; r < RUNS; r++) {
  for (const mode of ["baked", "imported"] as const) {
    const name = `bench-spot-${mode}-${r}`;
    const started = Date.now();
    try {
      const steps = await bootSpotNode(
        {
          name,
          labels: { "spillway.dev/tier": "burst", "spillway.dev/pool": "bench-spot" },
          taints: ["spillway.dev/spot=true:NoSchedule"],
          providerID: `aws:///eu-central-1a/i-${mode}${r}`,
        },
        {
          clusterDir: dir,
          apiserverPort: cluster.PORTS.apiserver,
          images,
          baked: mode === "baked",
          timeoutMs: 120_000,
          kubectl: (a) => kubectl(a),
        },
      );
      results[mode].push({ seconds: (Date.now() - started) / 1000, steps });
      if (r === 0 && mode === "baked") {
        const pids = join(dir, "spot", name, "pids");
        memoryMb = Object.fromEntries(
          ["containerd", "kubelet", "kube-proxy"].map((c) => [c, rss(join(pids, `${c}.pid`))]),
        );
      }
    } finally {
      await removeSpotNode(dir, name);
      await kubectl(["delete", "node", name, "--ignore-not-found"]);
    }
  }
}

const summary = (mode: "baked" | "imported") => {
  const rs = results[mode];
  const step = (k: keyof BootTimings) => median(rs.map((x) => x.steps[k]));
  return {
    bootSeconds: median(rs.map((x) => x.seconds)),
    steps: {
      network: step("network"),
      images: step("images"),
      containerd: step("containerd"),
      kubelet: step("kubelet"),
      proxy: step("proxy"),
    },
  };
};
const baked = summary("baked");
const imported = summary("imported");
process.stdout.write(
  `${JSON.stringify(
    {
      runs: RUNS,
      baked,
      imported,
      importedOverBaked: Number((imported.bootSeconds / baked.bootSeconds).toFixed(2)),
      memoryMb: { ...memoryMb, total: Object.values(memoryMb).reduce((a, b) => a + b, 0) },
    },
    null,
    2,
  )}\n`,
);
