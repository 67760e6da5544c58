import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../src/lib/errors.js";
import { tool } from "../../src/lib/paths.js";
import { startDetached, stopProcess, waitUntil, type Supervised } from "../lib/process.js";
import { createCgroupRoot, mountsUnder, ourProcesses, plural, removeCgroups, run, which } from "./host.js";
import { NETWORK, SPOT_SLOTS, spotAddresses } from "./network.js";
import {
  DEFAULT_NODE_PORTS,
  NODE_GO_ENV,
  kubeletArgs,
  writeNodeFiles,
  type NodePaths,
  type NodeShape,
} from "./node-config.js";
import { bakedRoot, importImages, seedRoot } from "./node-image.js";
import { issueNodeCertificates, kubeconfig, loadPki } from "./pki.js";

/**
 * A spot instance of an emulated cloud group, booted as a real node: its own network namespace (a veth on
 * the test bed's bridge, its address and pod range from its slot), containerd, kubelet and kube-proxy,
 * certificates of its own under the Node authorizer, and the labels, taint and providerID its cloud would
 * give it. Its pods run for real and answer on their own addresses, which the host routes through the node.
 * Removing it removes everything it made: processes, cgroups, mounts, the namespace and the route.
 */

/** Under the cluster's state dir, one folder per spot node. */
const SPOT_DIR = "spot";
/** Each node's kubelet cgroups under `/spillway-spot/s<slot>`, apart from the base node's `/spillway`. */
const CGROUP_ROOT = "spillway-spot";
const COMPONENTS = ["containerd", "kubelet", "kube-proxy"] as const;

export interface SpotNodeSpec {
  name: string;
  labels: Record<string, string>;
  /** `key=value:Effect`. */
  taints: string[];
  providerID: string;
}

export interface SpotNodeOptions {
  /** The local cluster's state dir (its PKI; the node's folder goes under it). */
  clusterDir: string;
  apiserverPort: number;
  images: string[];
  /** Boot from the baked image (images already in containerd) instead of importing them at boot. */
  baked: boolean;
  timeoutMs: number;
  kubectl: (args: string[]) => Promise<string>;
}

/** Seconds each boot step took, for the burst benchmark's split. */
export interface BootTimings {
  network: number;
  images: number;
  containerd: number;
  kubelet: number;
  proxy: number;
}

export const netnsName = (slot: number) => `spw-s${slot}`;
const vethName = (slot: number) => `spwv${slot}`;

/** The `ip` commands that give slot's node its namespace, address, default route, and the host's route to its pods. */
export function networkPlan(slot: number): string[][] {
  const { nodeIp, podCidr } = spotAddresses(slot);
  const ns = netnsName(slot);
  const prefix = NETWORK.podCidr.split("/")[1] ?? "24";
  return [
    ["netns", "add", ns],
    ["link", "add", vethName(slot), "type", "veth", "peer", "name", "eth0", "netns", ns],
    ["link", "set", vethName(slot), "master", NETWORK.bridge, "up"],
    ["-n", ns, "addr", "add", `${nodeIp}/${prefix}`, "dev", "eth0"],
    ["-n", ns, "link", "set", "eth0", "up"],
    ["-n", ns, "link", "set", "lo", "up"],
    ["-n", ns, "route", "add", "default", "via", NETWORK.gateway],
    ["route", "replace", podCidr, "via", nodeIp, "dev", NETWORK.bridge],
  ];
}

/**
 * The node's own iptables, inside its namespace: its pods dial the `kubernetes` ClusterIP (which has no
 * endpoints here), and reach the API server at the gateway, which the host forwards to loopback.
 */
export function namespaceRules(apiserverPort: number): string[][] {
  const dnat = ["-d", NETWORK.apiServiceIp, "-p", "tcp", "--dport", "443"];
  const to = ["-j", "DNAT", "--to-destination", `${NETWORK.gateway}:${apiserverPort}`];
  return [
    ["-t", "nat", "-N", "SPILLWAY-PREROUTING"],
    ["-t", "nat", "-A", "SPILLWAY-PREROUTING", ...dnat, ...to],
    ["-t", "nat", "-I", "PREROUTING", "1", "-j", "SPILLWAY-PREROUTING"],
  ];
}

export function spotShape(spec: SpotNodeSpec, slot: number): NodeShape {
  const a = spotAddresses(slot);
  return {
    name: spec.name,
    ip: a.nodeIp,
    bridge: "cbr0",
    podCidr: a.podCidr,
    podGateway: a.podGateway,
    clusterCidr: NETWORK.realPodCidr,
    proxyAddress: a.nodeIp,
    ports: DEFAULT_NODE_PORTS,
    cgroupRoot: `/${CGROUP_ROOT}/s${slot}`,
    labels: spec.labels,
    taints: spec.taints,
    providerID: spec.providerID,
  };
}

const spotRoot = (clusterDir: string) => join(clusterDir, SPOT_DIR);

function paths(dir: string): NodePaths {
  return {
    dir,
    containerdRoot: join(dir, "containerd-root"),
    containerdState: join(dir, "containerd"),
    socket: join(dir, "containerd", "containerd.sock"),
    kubeletRoot: join(dir, "kubelet"),
    cniConfDir: join(dir, "cni"),
  };
}

/** Slots of the spot nodes that have a folder (running, booting, or left by a crash). */
function usedSlots(clusterDir: string): Set<number> {
  const root = spotRoot(clusterDir);
  if (!existsSync(root)) return new Set();
  return new Set(
    readdirSync(root).flatMap((n) => {
      const f = join(root, n, "slot");
      return existsSync(f) ? [Number(readFileSync(f, "utf8"))] : [];
    }),
  );
}

function inNamespace(slot: number, c: Omit<Supervised, "ports">): Supervised {
  return {
    ...c,
    bin: which("nsenter") ?? "/usr/bin/nsenter",
    // Only the network namespace: the kubelet's volume mounts must be the ones containerd's runc sees.
    args: [`--net=/run/netns/${netnsName(slot)}`, "--", c.bin, ...c.args],
    ports: [],
    env: NODE_GO_ENV,
  };
}

/** Boots the node and resolves once it is Ready with kube-proxy running; on failure removes what it made. */
export async function bootSpotNode(spec: SpotNodeSpec, o: SpotNodeOptions): Promise<BootTimings> {
  const dir = join(spotRoot(o.clusterDir), spec.name);
  if (existsSync(dir)) throw new Error(`spot node ${spec.name} exists already`);
  const used = usedSlots(o.clusterDir);
  const slot = Array.from({ length: SPOT_SLOTS }, (_, i) => i + 1).find((s) => !used.has(s));
  if (slot === undefined)
    throw new UserError(`no free spot node slot (${SPOT_SLOTS} in use)`, "remove nodes", 2);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "slot"), String(slot));
  const node = spotShape(spec, slot);
  const p = paths(dir);
  const t: BootTimings = { network: 0, images: 0, containerd: 0, kubelet: 0, proxy: 0 };
  let started = Date.now();
  const lap = (k: keyof BootTimings) => {
    t[k] = (Date.now() - started) / 1000;
    started = Date.now();
  };
  try {
    for (const args of networkPlan(slot)) run("ip", args);
    const ns = ["--net=/run/netns/" + netnsName(slot), "--"];
    run("nsenter", [...ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"]);
    for (const r of namespaceRules(o.apiserverPort)) run("nsenter", [...ns, "iptables", ...r]);
    lap("network");

    const pki = loadPki(join(o.clusterDir, "pki"));
    const certs = issueNodeCertificates(pki, join(dir, "pki"), spec.name, node.ip);
    const server = `https://${NETWORK.gateway}:${o.apiserverPort}`;
    writeNodeFiles(p, node, {
      ociSpec: run("ctr", ["oci", "spec"]),
      tls: { caCert: pki.caCert, ...certs.serving },
      kubeletKubeconfig: [join(dir, "kubelet.kubeconfig"), kubeconfig(server, pki, "kubelet", certs.client)],
      proxyKubeconfig: [join(dir, "kube-proxy.kubeconfig"), kubeconfig(server, pki, "kube-proxy")],
    });
    if (o.baked) seedRoot(await bakedRoot(o.images), p.containerdRoot);
    lap("images");

    createCgroupRoot(node.cgroupRoot);
    startDetached(
      dir,
      inNamespace(slot, {
        name: "containerd",
        bin: which("containerd") ?? "containerd",
        args: ["--config", join(dir, "containerd.toml"), "--log-level", "warn"],
      }),
    );
    await waitUntil(
      "containerd",
      () => Promise.resolve(run("ctr", ["--address", p.socket, "version"]) !== ""),
      { timeoutMs: o.timeoutMs, stateDir: dir, component: "containerd", intervalMs: 50 },
    );
    // Without the baked image the node imports them now, as a node pulling at boot would.
    if (!o.baked) {
      importImages(p.socket, p.containerdRoot, o.images);
      lap("images");
    } else lap("containerd");

    startDetached(
      dir,
      inNamespace(slot, {
        name: "kubelet",
        bin: tool("kubelet"),
        args: kubeletArgs({
          config: join(dir, "kubelet.yaml"),
          kubeconfig: join(dir, "kubelet.kubeconfig"),
          root: p.kubeletRoot,
          node,
        }),
      }),
    );
    await waitUntil(
      `node ${spec.name} Ready`,
      async () =>
        (await o.kubectl([
          "get",
          "node",
          spec.name,
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ])) === "True",
      { timeoutMs: o.timeoutMs, stateDir: dir, component: "kubelet", intervalMs: 250 },
    );
    lap("kubelet");
    startDetached(
      dir,
      inNamespace(slot, {
        name: "kube-proxy",
        bin: tool("kube-proxy"),
        args: [`--config=${join(dir, "kube-proxy.yaml")}`, "--v=1"],
      }),
    );
    await waitUntil(
      "kube-proxy health",
      async () => {
        const r = await fetch(`http://${node.ip}:${node.ports.proxyHealthz}/healthz`);
        return r.status === 200;
      },
      { timeoutMs: o.timeoutMs, stateDir: dir, component: "kube-proxy", intervalMs: 100 },
    );
    lap("proxy");
    return t;
  } catch (err) {
    await removeSpotNode(o.clusterDir, spec.name).catch(() => undefined);
    throw err;
  }
}

/**
 * Stops the node and removes everything it made on the host; returns one line per kind of thing found.
 * The Node object is the caller's (the cloud controller's part).
 */
export async function removeSpotNode(clusterDir: string, name: string): Promise<string[]> {
  const dir = join(spotRoot(clusterDir), name);
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  const slot = Number(readFileSync(join(dir, "slot"), "utf8"));
  for (const c of [...COMPONENTS].reverse()) await stopProcess(dir, c, 5_000);
  const killed = removeCgroups(`${CGROUP_ROOT}/s${slot}`);
  if (killed) found.push(plural(killed, "pod process", "pod processes"));
  const stray = ourProcesses([dir]);
  for (const pid of stray) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  if (stray.length) found.push(plural(stray.length, "process", "processes"));
  for (const m of mountsUnder([dir])) {
    try {
      run("umount", [m]);
    } catch {
      run("umount", ["-l", m]);
    }
  }
  const { podCidr } = spotAddresses(slot);
  try {
    run("ip", ["route", "del", podCidr]);
  } catch {
    // gone with the bridge, or never made
  }
  try {
    run("ip", ["netns", "del", netnsName(slot)]);
    found.push(`network namespace ${netnsName(slot)}`);
  } catch {
    // never made
  }
  rmSync(dir, { recursive: true, force: true });
  return found;
}

/** Removes every spot node of the cluster, and namespaces or cgroups a crash left without a folder. */
export async function removeAllSpotNodes(clusterDir: string): Promise<string[]> {
  const root = spotRoot(clusterDir);
  const found: string[] = [];
  for (const n of existsSync(root) ? readdirSync(root) : []) {
    const lines = await removeSpotNode(clusterDir, n);
    found.push(...lines.map((l) => `spot node ${n}: ${l}`));
  }
  const orphans = run("ip", ["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => /^spw-s\d+$/.test(n));
  for (const ns of orphans) {
    run("ip", ["netns", "del", ns]);
    found.push(`network namespace ${ns}`);
  }
  const killed = removeCgroups(CGROUP_ROOT);
  if (killed) found.push(plural(killed, "spot pod process", "spot pod processes"));
  rmSync(root, { recursive: true, force: true });
  return found;
}

/** Spot nodes with a folder, by name. */
export function spotNodes(clusterDir: string): string[] {
  const root = spotRoot(clusterDir);
  return existsSync(root) ? readdirSync(root) : [];
}
