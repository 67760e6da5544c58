import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The configuration files of one real node (containerd, the CNI bridge, the kubelet, kube-proxy) as pure
 * functions of its shape, so the base node and every spot node are made the same way and table-tested
 * without starting anything.
 */

export const PAUSE_IMAGE = "localhost/spillway-pause:1.0";
export const CNI_BIN_DIR = "/usr/lib/cni";

export interface NodePorts {
  kubelet: number;
  kubeletHealthz: number;
  proxyHealthz: number;
  proxyMetrics: number;
}

/** A node's defaults: only a spot node, alone in its own network namespace, can use them. */
export const DEFAULT_NODE_PORTS: NodePorts = {
  kubelet: 10250,
  kubeletHealthz: 10248,
  proxyHealthz: 10256,
  proxyMetrics: 10249,
};

export interface NodeShape {
  name: string;
  /** The node's InternalIP: where its kubelet serves, and what the API server dials. */
  ip: string;
  /** Its pods' bridge, their range and gateway; `range` narrows the addresses handed out. */
  bridge: string;
  podCidr: string;
  podGateway: string;
  range?: { start: string; end: string };
  /** Every real node's pods (kube-proxy's clusterCIDR). */
  clusterCidr: string;
  /** Where kube-proxy's health and metrics listen (loopback on the host; the node's own address in a namespace). */
  proxyAddress: string;
  ports: NodePorts;
  /** The kubelet's cgroup root, so a cleanup touches only this node's pods. */
  cgroupRoot: string;
  labels: Record<string, string>;
  /** `key=value:Effect`, registered with the node. */
  taints: string[];
  /** What a cloud's node gets from its cloud controller (aws:///zone/i-…, gce://project/zone/name). */
  providerID?: string;
}

export interface NodePaths {
  dir: string;
  /** containerd's content store and snapshots. */
  containerdRoot: string;
  containerdState: string;
  socket: string;
  kubeletRoot: string;
  cniConfDir: string;
}

export interface KubeletTls {
  caCert: string;
  cert: string;
  key: string;
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

export function cniConfig(p: NodePaths, node: NodeShape): object {
  return {
    cniVersion: "1.0.0",
    name: "spillway",
    plugins: [
      {
        type: "bridge",
        bridge: node.bridge,
        isGateway: true,
        // Nothing is masqueraded: pod traffic never leaves the test bed's bridges (network.ts).
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: node.podCidr, gateway: node.podGateway, ...rangeOf(node) }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: join(p.dir, "ipam"),
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
}

function rangeOf(node: NodeShape) {
  return node.range ? { rangeStart: node.range.start, rangeEnd: node.range.end } : {};
}

export function kubeletConfig(p: NodePaths, node: NodeShape, tls: KubeletTls): object {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // This machine mounts cgroup v1; Kubernetes 1.35+ refuses it unless told otherwise.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupRoot: node.cgroupRoot,
    containerRuntimeEndpoint: `unix://${p.socket}`,
    // A kubelet refuses a loopback node IP: the API server reaches it here for logs, exec and port-forward.
    address: node.ip,
    port: node.ports.kubelet,
    healthzBindAddress: "127.0.0.1",
    healthzPort: node.ports.kubeletHealthz,
    readOnlyPort: 0,
    tlsCertFile: tls.cert,
    tlsPrivateKeyFile: tls.key,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: tls.caCert },
    },
    authorization: { mode: "Webhook" },
    failSwapOn: false,
    // No cluster DNS here: pods get a resolver that answers nothing rather than the host's.
    resolvConf: join(p.dir, "resolv.conf"),
    // Each node its own: a kubelet removes the log folders of pods it does not run from its pod logs
    // folder, so kubelets sharing /var/log/pods on one host would delete each other's pods' logs.
    podLogsDir: join(p.dir, "pod-logs"),
    maxPods: 32,
    serializeImagePulls: false,
    // A shared development machine: evict only when the disk is really full.
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%" },
    imageGCHighThresholdPercent: 98,
    imageGCLowThresholdPercent: 97,
    nodeStatusReportFrequency: "10s",
    syncFrequency: "10s",
    registerNode: true,
    ...(node.providerID ? { providerID: node.providerID } : {}),
    ...(node.taints.length ? { registerWithTaints: node.taints.map(parseTaint) } : {}),
  };
}

function parseTaint(t: string): { key: string; value: string; effect: string } {
  const m = /^([^=]+)=([^:]*):(\w+)$/.exec(t);
  if (!m?.[1] || !m[3]) throw new Error(`taint ${t}: expected key=value:Effect`);
  return { key: m[1], value: m[2] ?? "", effect: m[3] };
}

export function kubeProxyConfig(kubeconfigPath: string, node: NodeShape): object {
  return {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "iptables",
    clientConnection: { kubeconfig: kubeconfigPath },
    hostnameOverride: node.name,
    bindAddress: "127.0.0.1",
    healthzBindAddress: `${node.proxyAddress}:${node.ports.proxyHealthz}`,
    metricsBindAddress: `127.0.0.1:${node.ports.proxyMetrics}`,
    clusterCIDR: node.clusterCidr,
    // NodePorts answer on the node's own address only (never on the host's interfaces).
    nodePortAddresses: [`${node.ip}/32`],
    // Leave the host's conntrack sysctls alone.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    iptables: { syncPeriod: "30s", minSyncPeriod: "1s" },
  };
}

/** The kubelet's flags beside its config file. */
export function kubeletArgs(o: {
  config: string;
  kubeconfig: string;
  root: string;
  node: NodeShape;
}): string[] {
  const labels = Object.entries(o.node.labels).map(([k, v]) => `${k}=${v}`);
  return [
    `--config=${o.config}`,
    `--kubeconfig=${o.kubeconfig}`,
    `--root-dir=${o.root}`,
    `--hostname-override=${o.node.name}`,
    `--node-ip=${o.node.ip}`,
    ...(labels.length ? [`--node-labels=${labels.join(",")}`] : []),
    "--v=1",
  ];
}

/** A node's containerd, kubelet and kube-proxy are Go programs on a 2-core machine: memory for CPU. */
export const NODE_GO_ENV = { GOGC: "400" };

/** Under the host's hard limits, which an unprivileged process may not raise them beyond (docs/test-bed.md). */
const RLIMITS = [
  { type: "RLIMIT_NOFILE", hard: 10000, soft: 10000 },
  { type: "RLIMIT_NPROC", hard: 4096, soft: 4096 },
];

/**
 * Writes a node's folders and files: containerd's config and base runtime spec (`ociSpec`, containerd's
 * default, with our rlimits), the CNI bridge, the kubelet's and kube-proxy's configs and kubeconfigs.
 */
export function writeNodeFiles(
  p: NodePaths,
  node: NodeShape,
  o: {
    ociSpec: string;
    tls: KubeletTls;
    kubeletKubeconfig: [string, string];
    proxyKubeconfig: [string, string];
  },
): void {
  for (const d of [p.dir, p.containerdRoot, p.containerdState, p.kubeletRoot, p.cniConfDir]) {
    mkdirSync(d, { recursive: true });
  }
  const spec = JSON.parse(o.ociSpec) as { process: { rlimits?: unknown } };
  spec.process.rlimits = RLIMITS;
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  writeFileSync(join(p.dir, "base-spec.json"), json(spec));
  writeFileSync(join(p.dir, "containerd.toml"), containerdConfig(p));
  writeFileSync(join(p.cniConfDir, "10-spillway.conflist"), json(cniConfig(p, node)));
  writeFileSync(join(p.dir, "kubelet.yaml"), json(kubeletConfig(p, node, o.tls)));
  writeFileSync(join(p.dir, "resolv.conf"), "nameserver 127.0.0.1\noptions ndots:1 attempts:1 timeout:1\n");
  for (const [path, text] of [o.kubeletKubeconfig, o.proxyKubeconfig]) writeFileSync(path, text);
  writeFileSync(join(p.dir, "kube-proxy.yaml"), json(kubeProxyConfig(o.proxyKubeconfig[0], node)));
}
