import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PROVIDER_LABEL, TIER_LABEL } from "../../src/api/labels.js";
import { UserError } from "../../src/lib/errors.js";
import { httpStatus } from "../lib/http.js";
import { runDir, tool } from "../../src/lib/paths.js";
import { isAlive, readPid, startDetached, stopProcess, waitUntil, type Supervised } from "../lib/process.js";
import { NETWORK, setUp as setUpNetwork, tearDown as tearDownNetwork } from "./network.js";
import {
  CNI_BIN_DIR,
  NODE_GO_ENV,
  PAUSE_IMAGE,
  kubeletArgs,
  writeNodeFiles,
  type NodePaths,
  type NodeShape,
} from "./node-config.js";
import {
  createCgroupRoot,
  mountsUnder,
  ourProcesses,
  plural,
  removeCgroups,
  removeKubeChains,
  run,
  which,
} from "./host.js";
import { importImages as importInto, podmanImageId } from "./node-image.js";
import { REAL_NODE_NAME, kubeconfig, type Pki } from "./pki.js";
import { removeAllSpotNodes } from "./spot-node.js";

/**
 * The real node beside kwok's simulated ones: containerd (Debian's package), runc, the CNI plugins
 * (bridge, host-local, loopback, portmap), a kubelet and kube-proxy built from the control plane's own
 * Kubernetes source. It is the base tier of the local cluster: pods in namespaces that do not opt into
 * simulation run here, from images imported out of podman's store (no registry).
 */

export const NODE_NAME = REAL_NODE_NAME;
/**
 * Ports away from a real node's defaults (10250, 10248, 10256, 10249): the kubelet's on the bridge
 * address, the rest on loopback.
 */
export const NODE_PORTS = {
  kubelet: 20250,
  kubeletHealthz: 20248,
  proxyHealthz: 20256,
  proxyMetrics: 20249,
} as const;
export const NODE_LABELS = { [TIER_LABEL]: "base", [PROVIDER_LABEL]: "local" } as const;
export { PAUSE_IMAGE };
/** Kubelet cgroups live under their own root, so a cleanup after a crash touches only ours. */
const CGROUP_ROOT = "spillway";

/** The base node: on the host's own network, its pods on the bridge every spot node joins too. */
export const BASE_NODE: NodeShape = {
  name: NODE_NAME,
  ip: NETWORK.gateway,
  bridge: NETWORK.bridge,
  podCidr: NETWORK.podCidr,
  podGateway: NETWORK.gateway,
  range: NETWORK.basePodRange,
  clusterCidr: NETWORK.realPodCidr,
  proxyAddress: "127.0.0.1",
  ports: NODE_PORTS,
  cgroupRoot: `/${CGROUP_ROOT}`,
  labels: NODE_LABELS,
  taints: [],
};
const NODE_COMPONENTS = ["containerd", "kubelet", "kube-proxy"] as const;
export function isComponent(name: string): boolean {
  return (NODE_COMPONENTS as readonly string[]).includes(name);
}

export interface BaseNodePaths extends NodePaths {
  /** Why the node is not running, when it could not start. */
  unavailable: string;
}

export function nodePaths(stateDir: string): BaseNodePaths {
  const dir = join(stateDir, "node");
  return {
    dir,
    containerdRoot: join(runDir, "containerd"),
    containerdState: join(dir, "containerd"),
    socket: join(dir, "containerd", "containerd.sock"),
    kubeletRoot: join(dir, "kubelet"),
    cniConfDir: join(dir, "cni"),
    unavailable: join(stateDir, "node-unavailable"),
  };
}

function components(stateDir: string, p: NodePaths): Supervised[] {
  return [
    {
      name: "containerd",
      bin: which("containerd") ?? "containerd",
      ports: [],
      args: ["--config", join(p.dir, "containerd.toml"), "--log-level", "warn"],
    },
    {
      name: "kubelet",
      bin: tool("kubelet"),
      ports: [NODE_PORTS.kubelet, NODE_PORTS.kubeletHealthz],
      args: kubeletArgs({
        config: join(p.dir, "kubelet.yaml"),
        kubeconfig: join(stateDir, "kubelet.kubeconfig"),
        root: p.kubeletRoot,
        node: BASE_NODE,
      }),
    },
    {
      name: "kube-proxy",
      bin: tool("kube-proxy"),
      ports: [NODE_PORTS.proxyHealthz, NODE_PORTS.proxyMetrics],
      args: [`--config=${join(p.dir, "kube-proxy.yaml")}`, "--v=1"],
    },
  ].map((c) => ({ ...c, env: NODE_GO_ENV }));
}

/** What keeps this machine from running the node, as one line with its fix; undefined when nothing does. */
export function preflight(): { cause: string; fix: string } | undefined {
  if (process.getuid?.() !== 0) {
    return {
      cause: "the real node needs root (bridge, iptables, mounts)",
      fix: "run as root, or use the kwok-only tiers",
    };
  }
  const missing = ["containerd", "ctr", "runc", "iptables", "ip", "podman"].filter((b) => !which(b));
  if (missing.length) return { cause: `missing ${missing.join(", ")}`, fix: "run `npm run tools`" };
  for (const b of ["bridge", "host-local", "loopback", "portmap"]) {
    if (!existsSync(join(CNI_BIN_DIR, b))) {
      return {
        cause: `CNI plugin ${b} missing in ${CNI_BIN_DIR}`,
        fix: "run `npm run tools` (Debian's containernetworking-plugins)",
      };
    }
  }
  for (const b of ["kubelet", "kube-proxy"]) {
    if (!existsSync(tool(b))) return { cause: `${b} not built`, fix: "run `npm run tools`" };
  }
  if (!existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables")) {
    return {
      cause: "the kernel's br_netfilter module is not loaded",
      fix: "modprobe br_netfilter (as root)",
    };
  }
  return undefined;
}

/**
 * Removes everything a node made: pods' processes, components, mounts, our cgroups, kube-proxy's and our
 * iptables rules, the bridge and routes. Safe on a clean machine; returns one line per leftover found.
 */
export async function cleanUp(stateDir: string): Promise<string[]> {
  const p = nodePaths(stateDir);
  // Spot nodes hang off the base node's bridge: they go first.
  const found: string[] = await removeAllSpotNodes(stateDir);
  for (const name of NODE_COMPONENTS) {
    const pid = readPid(stateDir, name);
    if (pid !== undefined && isAlive(pid)) found.push(`process ${name}`);
    await stopProcess(stateDir, name, 5_000);
  }
  const killedPods = removeCgroups(CGROUP_ROOT);
  if (killedPods) found.push(plural(killedPods, "pod process", "pod processes"));
  const stray = ourProcesses([p.dir, p.containerdRoot]);
  for (const pid of stray) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (let i = 0; i < 50 && stray.some(isAlive); i++) await sleep(100);
  if (stray.length) found.push(`${plural(stray.length, "process", "processes")} using ${p.dir}`);
  const mounts = mountsUnder([p.dir, p.containerdRoot]);
  for (const m of mounts) {
    try {
      run("umount", [m]);
    } catch {
      run("umount", ["-l", m]);
    }
  }
  if (mounts.length) found.push(plural(mounts.length, "mount", "mounts"));
  const kubeChains = removeKubeChains();
  if (kubeChains)
    found.push(`${plural(kubeChains, "iptables chain", "iptables chains")} of the kubelet and kube-proxy`);
  try {
    found.push(...tearDownNetwork());
  } catch (err) {
    found.push(`network teardown failed: ${(err as Error).message.split("\n")[0] ?? ""}`);
  }
  rmSync(p.dir, { recursive: true, force: true });
  rmSync(p.unavailable, { force: true });
  return found;
}

/**
 * Copies images from podman's store into the node's containerd (no registry here); an image imported
 * before is skipped, so a restart costs nothing. Returns the images imported.
 */
export function importImages(stateDir: string, images: string[]): string[] {
  const p = nodePaths(stateDir);
  return importInto(p.socket, p.containerdRoot, images);
}

export interface NodeUpOptions {
  stateDir: string;
  server: string;
  pki: Pki;
  apiserverPort: number;
  images: string[];
  timeoutMs: number;
  kubectl: (args: string[]) => Promise<string>;
  log: (line: string) => void;
}

/** Starts containerd, the network, the kubelet and kube-proxy; resolves when the node is Ready. */
export async function up(opts: NodeUpOptions): Promise<void> {
  const { stateDir, log } = opts;
  const problem = preflight();
  if (problem) throw new UserError(problem.cause, problem.fix, 2);
  for (const image of opts.images) {
    if (!podmanImageId(image)) {
      throw new UserError(`image ${image} is not built`, "run `npm run image`", 3);
    }
  }
  const p = nodePaths(stateDir);
  writeNodeFiles(p, BASE_NODE, {
    ociSpec: run("ctr", ["oci", "spec"]),
    tls: { caCert: opts.pki.caCert, cert: opts.pki.kubeletCert, key: opts.pki.kubeletKey },
    kubeletKubeconfig: [join(stateDir, "kubelet.kubeconfig"), kubeconfig(opts.server, opts.pki, "kubelet")],
    proxyKubeconfig: [
      join(stateDir, "kube-proxy.kubeconfig"),
      kubeconfig(opts.server, opts.pki, "kube-proxy"),
    ],
  });
  const [containerd, kubelet, proxy] = components(stateDir, p);
  if (!containerd || !kubelet || !proxy) throw new Error("node components");

  let t = Date.now();
  setUpNetwork(opts.apiserverPort);
  createCgroupRoot(BASE_NODE.cgroupRoot);
  startDetached(stateDir, containerd);
  await waitUntil(
    "containerd",
    () => {
      run("ctr", ["--address", p.socket, "version"]);
      return Promise.resolve(true);
    },
    { timeoutMs: opts.timeoutMs, stateDir, component: "containerd" },
  );
  log(`${"containerd".padEnd(24)} ready in ${((Date.now() - t) / 1000).toFixed(1)}s`);
  t = Date.now();
  const imported = importImages(stateDir, opts.images);
  if (imported.length) log(`imported ${imported.join(", ")} in ${((Date.now() - t) / 1000).toFixed(1)}s`);

  t = Date.now();
  startDetached(stateDir, kubelet);
  await waitUntil(
    `node ${NODE_NAME} Ready`,
    async () => {
      const s = await opts.kubectl([
        "get",
        "node",
        NODE_NAME,
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      return s === "True";
    },
    { timeoutMs: opts.timeoutMs, stateDir, component: "kubelet", intervalMs: 500 },
  );
  log(`${"kubelet".padEnd(24)} ready in ${((Date.now() - t) / 1000).toFixed(1)}s`);
  t = Date.now();
  startDetached(stateDir, proxy);
  await waitUntil(
    "kube-proxy health",
    async () => (await httpStatus(`http://127.0.0.1:${NODE_PORTS.proxyHealthz}/healthz`)) === 200,
    { timeoutMs: opts.timeoutMs, stateDir, component: "kube-proxy" },
  );
  log(`${"kube-proxy".padEnd(24)} ready in ${((Date.now() - t) / 1000).toFixed(1)}s`);
}

/** Why the real node is not running (written when it could not start), or undefined when it is. */
export function unavailableReason(stateDir: string): string | undefined {
  const p = nodePaths(stateDir);
  return existsSync(p.unavailable) ? readFileSync(p.unavailable, "utf8").trim() : undefined;
}

export function markUnavailable(stateDir: string, reason: string): void {
  writeFileSync(nodePaths(stateDir).unavailable, `${reason}\n`);
}

export function isUp(stateDir: string): boolean {
  const p = nodePaths(stateDir);
  return existsSync(p.dir) && statSync(p.dir).isDirectory() && !existsSync(p.unavailable);
}
