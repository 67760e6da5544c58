import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PROVIDER_LABEL, TIER_LABEL } from "../../src/api/labels.js";
import { UserError } from "../../src/lib/errors.js";
import { httpStatus } from "../lib/http.js";
import { runDir, tool } from "../../src/lib/paths.js";
import { podmanEnv } from "../lib/podman.js";
import { isAlive, readPid, startDetached, stopProcess, waitUntil, type Supervised } from "../lib/process.js";
import { NETWORK, setUp as setUpNetwork, tearDown as tearDownNetwork } from "./network.js";
import { REAL_NODE_NAME, kubeconfig, type Pki } from "./pki.js";

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
export const PAUSE_IMAGE = "localhost/spillway-pause:1.0";
/** Kubelet cgroups live under their own root, so a cleanup after a crash touches only ours. */
const CGROUP_ROOT = "spillway";
const CNI_BIN_DIR = "/usr/lib/cni";
/** Under the host's hard limits, which an unprivileged process may not raise them beyond (README). */
const RLIMITS = [
  { type: "RLIMIT_NOFILE", hard: 10000, soft: 10000 },
  { type: "RLIMIT_NPROC", hard: 4096, soft: 4096 },
];
const NODE_COMPONENTS = ["containerd", "kubelet", "kube-proxy"] as const;
export function isComponent(name: string): boolean {
  return (NODE_COMPONENTS as readonly string[]).includes(name);
}

export interface NodePaths {
  dir: string;
  /** containerd's content store and snapshots: kept across restarts, so images are imported once. */
  containerdRoot: string;
  containerdState: string;
  socket: string;
  kubeletRoot: string;
  cniConfDir: string;
  /** Why the node is not running, when it could not start. */
  unavailable: string;
}

export function nodePaths(stateDir: string): NodePaths {
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

export function containerdConfig(p: NodePaths): string {
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `version = 2
root = ${JSON.stringify(p.containerdRoot)}
state = ${JSON.stringify(p.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${JSON.stringify(p.socket)}

[${cri}]
  sandbox_image = ${JSON.stringify(PAUSE_IMAGE)}
  # Lowering oom_score_adj is not permitted here; without this every sandbox fails in runc.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  [${cri}.cni]
    bin_dir = ${JSON.stringify(CNI_BIN_DIR)}
    conf_dir = ${JSON.stringify(p.cniConfDir)}
    max_conf_num = 1
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = ${JSON.stringify(join(p.dir, "base-spec.json"))}
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(join(p.containerdRoot, "opt"))}
`;
}

export function cniConfig(p: NodePaths): object {
  return {
    cniVersion: "1.0.0",
    name: "spillway",
    plugins: [
      {
        type: "bridge",
        bridge: NETWORK.bridge,
        isGateway: true,
        // Nothing is masqueraded: pod traffic never leaves the bridge (network.ts).
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: NETWORK.podCidr, gateway: NETWORK.gateway }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: join(p.dir, "ipam"),
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
}

export function kubeletConfig(p: NodePaths, pki: Pki): object {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // This machine mounts cgroup v1; Kubernetes 1.35+ refuses it unless told otherwise.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupRoot: `/${CGROUP_ROOT}`,
    containerRuntimeEndpoint: `unix://${p.socket}`,
    // The node's address is the bridge's (a kubelet refuses a loopback node IP): the API server reaches
    // it from the host for logs, exec and port-forward, as pods would on any cluster.
    address: NETWORK.gateway,
    port: NODE_PORTS.kubelet,
    healthzBindAddress: "127.0.0.1",
    healthzPort: NODE_PORTS.kubeletHealthz,
    readOnlyPort: 0,
    tlsCertFile: pki.kubeletCert,
    tlsPrivateKeyFile: pki.kubeletKey,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: pki.caCert },
    },
    authorization: { mode: "Webhook" },
    failSwapOn: false,
    // No cluster DNS here: pods get a resolver that answers nothing rather than the host's.
    resolvConf: join(p.dir, "resolv.conf"),
    maxPods: 32,
    serializeImagePulls: false,
    // A shared development machine: evict only when the disk is really full.
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%" },
    imageGCHighThresholdPercent: 98,
    imageGCLowThresholdPercent: 97,
    nodeStatusReportFrequency: "10s",
    syncFrequency: "10s",
    registerNode: true,
  };
}

export function kubeProxyConfig(kubeconfigPath: string): object {
  return {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "iptables",
    clientConnection: { kubeconfig: kubeconfigPath },
    hostnameOverride: NODE_NAME,
    bindAddress: "127.0.0.1",
    healthzBindAddress: `127.0.0.1:${NODE_PORTS.proxyHealthz}`,
    metricsBindAddress: `127.0.0.1:${NODE_PORTS.proxyMetrics}`,
    clusterCIDR: NETWORK.podCidr,
    // NodePorts answer on the bridge address only (never on the host's own interfaces).
    nodePortAddresses: [`${NETWORK.gateway}/32`],
    // Leave the host's conntrack sysctls alone.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    iptables: { syncPeriod: "30s", minSyncPeriod: "1s" },
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
      args: [
        `--config=${join(p.dir, "kubelet.yaml")}`,
        `--kubeconfig=${join(stateDir, "kubelet.kubeconfig")}`,
        `--root-dir=${p.kubeletRoot}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${NETWORK.gateway}`,
        `--node-labels=${Object.entries(NODE_LABELS)
          .map(([k, v]) => `${k}=${v}`)
          .join(",")}`,
        "--v=1",
      ],
    },
    {
      name: "kube-proxy",
      bin: tool("kube-proxy"),
      ports: [NODE_PORTS.proxyHealthz, NODE_PORTS.proxyMetrics],
      args: [`--config=${join(p.dir, "kube-proxy.yaml")}`, "--v=1"],
    },
  ].map((c) => ({ ...c, env: { GOGC: "400" } }));
}

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 1 << 26,
  });
}

function which(bin: string): string | undefined {
  try {
    return run("sh", ["-c", `command -v ${bin}`]).trim() || undefined;
  } catch {
    return undefined;
  }
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

/** cgroup v1 controllers mounted under /sys/fs/cgroup, each needing our root. */
function cgroupControllers(): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "cgroup" && f[1]?.startsWith("/sys/fs/cgroup/"))
    .map((f) => f[1] ?? "");
}

function createCgroupRoot(): void {
  for (const mount of cgroupControllers()) {
    const dir = join(mount, CGROUP_ROOT);
    mkdirSync(dir, { recursive: true });
    // A v1 cpuset starts empty and accepts no task until it has CPUs and memory nodes.
    for (const f of ["cpuset.cpus", "cpuset.mems"]) {
      if (existsSync(join(dir, f)) && !readFileSync(join(dir, f), "utf8").trim()) {
        writeFileSync(join(dir, f), readFileSync(join(mount, f), "utf8"));
      }
    }
  }
}

/** Kills every process in our cgroups and removes them, deepest first; returns how many it killed. */
function removeCgroups(): number {
  let killed = 0;
  for (const mount of cgroupControllers()) {
    const root = join(mount, CGROUP_ROOT);
    if (!existsSync(root)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    walk(root);
    for (const d of dirs) {
      for (const pid of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
          killed++;
        } catch {
          // already gone
        }
      }
    }
    for (const d of dirs.reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          execFileSync("sleep", ["0.1"]);
        }
      }
    }
  }
  return killed;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Processes whose command line names one of our paths (containerd shims, a kubelet left by a crash). */
function ourProcesses(paths: string[]): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (paths.some((p) => cmd.includes(p))) pids.push(Number(e));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

function mountsUnder(dirs: string[]): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => (l.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((m) => dirs.some((d) => m === d || m.startsWith(`${d}/`)))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes everything a node made: pods' processes, components, mounts, our cgroups, kube-proxy's and our
 * iptables rules, the bridge and routes. Safe on a clean machine; returns one line per leftover found.
 */
export async function cleanUp(stateDir: string): Promise<string[]> {
  const p = nodePaths(stateDir);
  const found: string[] = [];
  for (const name of NODE_COMPONENTS) {
    const pid = readPid(stateDir, name);
    if (pid !== undefined && isAlive(pid)) found.push(`process ${name}`);
    await stopProcess(stateDir, name, 5_000);
  }
  const killedPods = removeCgroups();
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
 * Removes the KUBE-* chains the kubelet and kube-proxy add to every table, and the rules jumping to them;
 * returns how many chains there were.
 */
function removeKubeChains(): number {
  let chains = 0;
  for (const table of ["filter", "nat", "mangle"]) {
    let saved: string;
    try {
      saved = run("iptables-save", ["-t", table]);
    } catch {
      continue;
    }
    const lines = saved.split("\n");
    const own = lines.filter((l) => l.startsWith(":KUBE-")).map((l) => l.slice(1).split(" ")[0] ?? "");
    for (const l of lines) {
      const m = /^-A (\S+) (.*-j KUBE-\S+.*)$/.exec(l);
      if (m?.[1] && !m[1].startsWith("KUBE-")) {
        try {
          run("sh", ["-c", `iptables -t ${table} -D ${m[1]} ${m[2] ?? ""}`]);
        } catch {
          // removed already
        }
      }
    }
    for (const c of own) run("iptables", ["-t", table, "-F", c]);
    for (const c of own) run("iptables", ["-t", table, "-X", c]);
    chains += own.length;
  }
  return chains;
}

const PODMAN_ENV = { ...process.env, ...podmanEnv };

/** Podman's image ID, or undefined when podman does not have it. */
function podmanImageId(image: string): string | undefined {
  try {
    return execFileSync("podman", ["image", "inspect", "--format", "{{.Id}}", image], {
      encoding: "utf8",
      env: PODMAN_ENV,
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  } catch {
    return undefined;
  }
}

/**
 * Copies images from podman's store into containerd's (no registry here). An image whose podman ID was
 * imported before is skipped, so a restart costs nothing. Returns the images imported.
 */
export function importImages(stateDir: string, images: string[]): string[] {
  const p = nodePaths(stateDir);
  const stamps = join(p.containerdRoot, "imported");
  mkdirSync(stamps, { recursive: true });
  const imported: string[] = [];
  for (const image of images) {
    const id = podmanImageId(image);
    if (!id) throw new UserError(`image ${image} is not built`, "run `npm run image`", 3);
    const stamp = join(stamps, image.replace(/[^A-Za-z0-9_.-]/g, "_"));
    if (existsSync(stamp) && readFileSync(stamp, "utf8") === id) continue;
    const archive = join(p.dir, "image.tar");
    execFileSync("podman", ["save", "--format", "docker-archive", "-o", archive, image], {
      env: PODMAN_ENV,
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      run("ctr", ["--address", p.socket, "--namespace", "k8s.io", "images", "import", archive]);
    } finally {
      rmSync(archive, { force: true });
    }
    writeFileSync(stamp, id);
    imported.push(image);
  }
  return imported;
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
  for (const d of [p.dir, p.containerdRoot, p.containerdState, p.kubeletRoot, p.cniConfDir]) {
    mkdirSync(d, { recursive: true });
  }
  const spec = JSON.parse(run("ctr", ["oci", "spec"])) as { process: { rlimits?: unknown } };
  spec.process.rlimits = RLIMITS;
  writeFileSync(join(p.dir, "base-spec.json"), JSON.stringify(spec, null, 2));
  writeFileSync(join(p.dir, "containerd.toml"), containerdConfig(p));
  writeFileSync(join(p.cniConfDir, "10-spillway.conflist"), JSON.stringify(cniConfig(p), null, 2));
  writeFileSync(join(p.dir, "kubelet.yaml"), JSON.stringify(kubeletConfig(p, opts.pki), null, 2));
  writeFileSync(join(p.dir, "resolv.conf"), "nameserver 127.0.0.1\noptions ndots:1 attempts:1 timeout:1\n");
  writeFileSync(join(stateDir, "kubelet.kubeconfig"), kubeconfig(opts.server, opts.pki, "kubelet"));
  writeFileSync(join(stateDir, "kube-proxy.kubeconfig"), kubeconfig(opts.server, opts.pki, "kube-proxy"));
  writeFileSync(
    join(p.dir, "kube-proxy.yaml"),
    JSON.stringify(kubeProxyConfig(join(stateDir, "kube-proxy.kubeconfig")), null, 2),
  );
  const [containerd, kubelet, proxy] = components(stateDir, p);
  if (!containerd || !kubelet || !proxy) throw new Error("node components");

  let t = Date.now();
  setUpNetwork(opts.apiserverPort);
  createCgroupRoot();
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
