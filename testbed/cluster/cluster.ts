import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { httpStatus } from "../lib/http.js";
import { kubectlFor } from "../../src/lib/kubectl.js";
import { currentInferenceImage } from "../lib/podman.js";
import { runDir, tool } from "../../src/lib/paths.js";
import {
  assertPortsFree,
  isAlive,
  readPid,
  startDetached,
  stopProcess,
  waitUntil,
  type Supervised,
} from "../lib/process.js";
import { createPki, kubeconfig, loadPki, type Pki } from "./pki.js";
import { NETWORK } from "./network.js";
import * as realNode from "./real-node.js";
import { DEFAULT_TOPOLOGY, nodeManifests, type Topology } from "./topology.js";

/** Loopback ports, away from the defaults of a real cluster (6443, 2379, 10257, 10259) on the same host. */
export const PORTS = {
  etcdClient: 12379,
  etcdPeer: 12380,
  apiserver: 16443,
  controllerManager: 20257,
  scheduler: 20259,
  kwok: 20247,
} as const;

/** Start order; stop runs in reverse. */
const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"] as const;

export interface LocalCluster {
  /** Admin kubeconfig (system:masters). */
  kubeconfig: string;
  server: string;
  stateDir: string;
}

export interface UpOptions {
  topology?: Topology;
  /** Start the real node beside the kwok ones (default: true; SPILLWAY_REAL_NODE=0 turns it off). */
  realNode?: boolean;
  /** Images the real node gets from podman's store. */
  images?: string[];
  stateDir?: string;
  timeoutMs?: number;
  log?: (line: string) => void;
}

const stageFile = fileURLToPath(new URL("./kwok-stages.yaml", import.meta.url));
const SERVICE_CIDR = NETWORK.serviceCidr;
const SERVER_SANS = [
  "IP:127.0.0.1",
  "DNS:localhost",
  `IP:${NETWORK.apiServiceIp}`,
  // Where spot nodes, in network namespaces of their own, dial it (network.ts forwards it to loopback).
  `IP:${NETWORK.gateway}`,
  "DNS:kubernetes",
  "DNS:kubernetes.default",
  "DNS:kubernetes.default.svc",
];

export function defaultStateDir(): string {
  return join(runDir, "cluster");
}

function describe(stateDir: string): LocalCluster {
  return {
    kubeconfig: join(stateDir, "kubeconfig"),
    server: `https://127.0.0.1:${PORTS.apiserver}`,
    stateDir,
  };
}

/** TLS for talking to the API server as admin, read once per start or check rather than per poll. */
function adminTls(pki: Pki) {
  return {
    ca: readFileSync(pki.caCert),
    cert: readFileSync(pki.client("admin").cert),
    key: readFileSync(pki.client("admin").key),
  };
}
// controller-manager and scheduler serve a self-signed certificate on loopback.
const SELF_SIGNED = { rejectUnauthorized: false };

/** True when this state dir's processes are all alive and the API server answers /readyz. */
export async function isRunning(stateDir = defaultStateDir()): Promise<boolean> {
  for (const name of COMPONENTS) {
    const pid = readPid(stateDir, name);
    if (pid === undefined || !isAlive(pid)) return false;
  }
  const pki = loadPki(join(stateDir, "pki"));
  return (await httpStatus(`https://127.0.0.1:${PORTS.apiserver}/readyz`, adminTls(pki))) === 200;
}

/**
 * Every component is a Go program. A throwaway test bed on a shared 2-core machine has memory to spare
 * and no CPU: a less eager garbage collector trades the one for the other (measured with
 * `npm run bench:operator`; BENCHMARKS.md has the numbers).
 */
const GO_ENV = { GOGC: "400" };

function components(stateDir: string, pki: Pki): Supervised[] {
  return goComponents(stateDir, pki).map((p) => ({ ...p, env: { ...GO_ENV, ...p.env } }));
}

function goComponents(stateDir: string, pki: Pki): Supervised[] {
  const kc = (name: string) => join(stateDir, `${name}.kubeconfig`);
  const delegated = (name: string) => [
    `--kubeconfig=${kc(name)}`,
    `--authentication-kubeconfig=${kc(name)}`,
    `--authorization-kubeconfig=${kc(name)}`,
  ];
  return [
    {
      name: "etcd",
      bin: tool("etcd"),
      ports: [PORTS.etcdClient, PORTS.etcdPeer],
      args: [
        "--name=spillway-local",
        `--data-dir=${join(stateDir, "etcd")}`,
        `--listen-client-urls=http://127.0.0.1:${PORTS.etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${PORTS.etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${PORTS.etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${PORTS.etcdPeer}`,
        `--initial-cluster=spillway-local=http://127.0.0.1:${PORTS.etcdPeer}`,
        // A throwaway test bed: durability is not worth the fsync latency on a shared 2-core machine.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
    },
    {
      name: "kube-apiserver",
      bin: tool("kube-apiserver"),
      ports: [PORTS.apiserver],
      args: [
        `--etcd-servers=http://127.0.0.1:${PORTS.etcdClient}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${PORTS.apiserver}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        "--authorization-mode=Node,RBAC",
        // NodeRestriction keeps the real node's kubelet to its own objects; the other two let a namespace
        // opt into kwok's simulated nodes (topology.ts, simulatedNamespace).
        "--enable-admission-plugins=NodeRestriction,PodNodeSelector,PodTolerationRestriction",
        `--kubelet-client-certificate=${pki.client("apiserver-kubelet-client").cert}`,
        `--kubelet-client-key=${pki.client("apiserver-kubelet-client").key}`,
        `--kubelet-certificate-authority=${pki.caCert}`,
        "--kubelet-preferred-address-types=InternalIP",
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        // The loopback advertise address is not a valid endpoint for the `kubernetes` Service.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        `--cert-dir=${join(stateDir, "apiserver-certs")}`,
        "--v=1",
      ],
    },
    {
      name: "kube-controller-manager",
      bin: tool("kube-controller-manager"),
      ports: [PORTS.controllerManager],
      args: [
        ...delegated("kube-controller-manager"),
        "--bind-address=127.0.0.1",
        `--secure-port=${PORTS.controllerManager}`,
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--cert-dir=${join(stateDir, "kcm-certs")}`,
        // A test bed is judged by how fast it converges: client-go's default 20 QPS would make the
        // controller-manager, not the code under test, the bottleneck with hundreds of objects. Its
        // workers stay at the defaults: more only adds requests in flight on the same 2 cores
        // (BENCHMARKS.md, the operator benchmark).
        "--kube-api-qps=500",
        "--kube-api-burst=1000",
        "--v=1",
      ],
    },
    {
      name: "kube-scheduler",
      bin: tool("kube-scheduler"),
      ports: [PORTS.scheduler],
      args: [
        ...delegated("kube-scheduler"),
        "--bind-address=127.0.0.1",
        `--secure-port=${PORTS.scheduler}`,
        "--leader-elect=false",
        `--cert-dir=${join(stateDir, "scheduler-certs")}`,
        "--kube-api-qps=500",
        "--kube-api-burst=1000",
        "--v=1",
      ],
    },
    {
      name: "kwok",
      bin: tool("kwok"),
      ports: [PORTS.kwok],
      args: [
        `--kubeconfig=${kc("kwok")}`,
        `--config=${stageFile}`,
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        `--server-address=127.0.0.1:${PORTS.kwok}`,
        "--node-lease-duration-seconds=40",
        `--cidr=${NETWORK.kwokPodCidr}`,
        `--node-ip=${NETWORK.kwokNodeIp}`,
      ],
    },
  ];
}

type Tls = ReturnType<typeof adminTls>;
const HEALTH: Record<(typeof COMPONENTS)[number], (tls: Tls) => Promise<boolean>> = {
  etcd: async () => (await httpStatus(`http://127.0.0.1:${PORTS.etcdClient}/health`)) === 200,
  "kube-apiserver": async (tls) =>
    (await httpStatus(`https://127.0.0.1:${PORTS.apiserver}/readyz`, tls)) === 200,
  "kube-controller-manager": async () =>
    (await httpStatus(`https://127.0.0.1:${PORTS.controllerManager}/healthz`, SELF_SIGNED)) === 200,
  "kube-scheduler": async () =>
    (await httpStatus(`https://127.0.0.1:${PORTS.scheduler}/healthz`, SELF_SIGNED)) === 200,
  kwok: async () => (await httpStatus(`http://127.0.0.1:${PORTS.kwok}/healthz`)) === 200,
};

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on loopback, registers the
 * topology's nodes and waits until they are Ready and the default ServiceAccount exists (pods can be
 * created). Idempotent: an already running cluster is returned as is.
 */
export async function up(opts: UpOptions = {}): Promise<LocalCluster> {
  const stateDir = opts.stateDir ?? defaultStateDir();
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const cluster = describe(stateDir);
  if (await isRunning(stateDir)) {
    log(`already running (kubeconfig ${cluster.kubeconfig})`);
    // A rebuilt image (`npm run image`) reaches the running node here; unchanged ones cost nothing.
    if (realNode.isUp(stateDir)) {
      const images = [realNode.PAUSE_IMAGE, ...(opts.images ?? [currentInferenceImage()])];
      try {
        const imported = realNode.importImages(stateDir, images);
        if (imported.length) log(`imported ${imported.join(", ")} into the real node`);
      } catch (err) {
        log(
          `the real node keeps its images: ${(err as Error).message.split("\n")[0] ?? ""} (fix: npm run image)`,
        );
      }
    }
    return cluster;
  }
  if (existsSync(stateDir)) {
    // Left by a run that was killed before `cluster down`: its etcd data and pids would mislead us.
    log(`removing stale state in ${stateDir} from a run that was not stopped`);
    await down({
      stateDir,
      log: (l) => {
        log(`cleaned leftover: ${l}`);
      },
    });
  } else if (realNode.preflight() === undefined) {
    // A crash during `cluster down` can leave the node's mounts, bridge or rules without a state dir.
    for (const line of await realNode.cleanUp(stateDir)) log(`cleaned leftover: ${line}`);
    rmSync(stateDir, { recursive: true, force: true });
  }
  // Ports first, so a conflict leaves nothing behind.
  for (const p of components(stateDir, loadPki(join(stateDir, "pki")))) {
    for (const port of p.ports) {
      await assertPortsFree(
        p.name,
        [port],
        `stop the process listening there (\`ss -ltnp 'sport = :${port}'\`), or \`npm run cluster:down\` if it is an earlier local cluster`,
      );
    }
  }
  const pki = createPki(join(stateDir, "pki"), SERVER_SANS);
  const procs = components(stateDir, pki);
  writeFileSync(cluster.kubeconfig, kubeconfig(cluster.server, pki, "admin"));
  for (const name of ["kube-controller-manager", "kube-scheduler", "kwok"]) {
    writeFileSync(join(stateDir, `${name}.kubeconfig`), kubeconfig(cluster.server, pki, name));
  }
  const started = Date.now();
  const tls = adminTls(pki);
  const kubectl = kubectlFor(cluster.kubeconfig);
  try {
    for (const p of procs) {
      const t = Date.now();
      startDetached(stateDir, p);
      const name = p.name as (typeof COMPONENTS)[number];
      await waitUntil(`${name} health`, () => HEALTH[name](tls), { timeoutMs, stateDir, component: name });
      log(`${name.padEnd(24)} ready in ${((Date.now() - t) / 1000).toFixed(1)}s`);
    }
    const version = JSON.parse(await kubectl(["version", "-o", "json"])) as {
      serverVersion: { gitVersion: string };
    };
    const nodes = nodeManifests(opts.topology ?? DEFAULT_TOPOLOGY, version.serverVersion.gitVersion);
    await kubectl(["apply", "-f", "-"], nodes.map((n) => stringify(n)).join("---\n"));
    await waitUntil(
      `${nodes.length} kwok nodes Ready`,
      async () => {
        const out = await kubectl([
          "get",
          "nodes",
          "-o",
          'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
        ]);
        return out.split("\n").filter((s) => s === "True").length === nodes.length;
      },
      { timeoutMs, stateDir, component: "kwok" },
    );
    await waitUntil(
      "default ServiceAccount",
      async () => {
        await kubectl(["get", "serviceaccount", "default", "-n", "default"]);
        return true;
      },
      { timeoutMs, stateDir, component: "kube-controller-manager" },
    );
    log(
      `${nodes.length} kwok nodes Ready; control plane up in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    if (opts.realNode ?? process.env.SPILLWAY_REAL_NODE !== "0") {
      await startRealNode(stateDir, cluster.server, pki, opts, kubectl, log);
    } else {
      realNode.markUnavailable(stateDir, "not started (SPILLWAY_REAL_NODE=0)");
    }
  } catch (err) {
    await down({ stateDir, keepLogs: true });
    throw err;
  }
  return cluster;
}

/**
 * The real node is an addition: when this machine cannot run it, the kwok tiers still work, so the
 * cause is logged as one line with its fix and recorded for the tiers that need it.
 */
async function startRealNode(
  stateDir: string,
  server: string,
  pki: Pki,
  opts: UpOptions,
  kubectl: (args: string[]) => Promise<string>,
  log: (line: string) => void,
): Promise<void> {
  try {
    await realNode.up({
      stateDir,
      server,
      pki,
      apiserverPort: PORTS.apiserver,
      images: [realNode.PAUSE_IMAGE, ...(opts.images ?? [currentInferenceImage()])],
      timeoutMs: opts.timeoutMs ?? 90_000,
      kubectl,
      log,
    });
  } catch (err) {
    const e = err as Error & { fix?: string };
    const cause = e.message.split("\n")[0] ?? "";
    await realNode.cleanUp(stateDir);
    await kubectl(["delete", "node", realNode.NODE_NAME, "--ignore-not-found"]);
    realNode.markUnavailable(stateDir, `${cause}${e.fix ? ` (fix: ${e.fix})` : ""}`);
    log(`real node unavailable: ${cause}${e.fix ? `; fix: ${e.fix}` : ""} (kwok nodes only)`);
  }
}

/**
 * Stops every component (reverse order) and removes the state dir. `keepLogs` leaves logs/ for a
 * failed start, so the cause stays readable.
 */
export async function down(
  opts: {
    stateDir?: string;
    keepLogs?: boolean;
    /** One line per real-node leftover removed (mounts, bridge, rules, processes). */
    log?: (line: string) => void;
  } = {},
): Promise<void> {
  const stateDir = opts.stateDir ?? defaultStateDir();
  // Processes started beside the cluster (a pid file in its state dir, like the demo's operator) go
  // first, before the API they talk to; then the components in reverse start order.
  const pidsDir = join(stateDir, "pids");
  const beside = existsSync(pidsDir)
    ? readdirSync(pidsDir)
        .map((f) => f.replace(/\.pid$/, ""))
        .filter((n) => !(COMPONENTS as readonly string[]).includes(n) && !realNode.isComponent(n))
    : [];
  for (const name of beside) await stopProcess(stateDir, name);
  if (realNode.preflight() === undefined) {
    for (const line of await realNode.cleanUp(stateDir)) opts.log?.(line);
  }
  for (const name of [...COMPONENTS].reverse()) await stopProcess(stateDir, name);
  if (!existsSync(stateDir)) return;
  for (const entry of readdirSync(stateDir)) {
    if (opts.keepLogs && entry === "logs") continue;
    rmSync(join(stateDir, entry), { recursive: true, force: true });
  }
  if (!opts.keepLogs) rmSync(stateDir, { recursive: true, force: true });
}
