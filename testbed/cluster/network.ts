import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";

/**
 * The local cluster's address plan and the host side of its pod network. Every pod and service address
 * comes from 198.18.0.0/15 (RFC 2544, reserved for network testing), and the host holds an `unreachable`
 * route for the whole range: only the more specific routes below lead anywhere, and they all end on the
 * bridge the test bed creates, so no packet for the range can leave the machine even while a component is
 * down. Pods cannot reach anything beyond the bridge either (FORWARD rejects it; nothing masquerades).
 */
export const NETWORK = {
  range: "198.18.0.0/15",
  /** The base node's pods and every spot node's own address, on the bridge. */
  bridge: "spw0",
  podCidr: "198.18.0.0/24",
  /** The bridge's own address: the pods' gateway, and how they reach the host's loopback services. */
  gateway: "198.18.0.1",
  /** The base node's pods take .2–.199 of podCidr; .201–.250 are the spot nodes' own addresses. */
  basePodRange: { start: "198.18.0.2", end: "198.18.0.199" },
  /** Every real node's pods (the base's and the spot nodes' 198.18.<slot>.0/24), for kube-proxy. */
  realPodCidr: "198.18.0.0/17",
  /** kwok's simulated pods: addresses that are never routed anywhere. */
  kwokPodCidr: "198.18.128.0/17",
  kwokNodeIp: "198.18.128.1",
  serviceCidr: "198.19.0.0/16",
  /** The `kubernetes` Service's ClusterIP (the first address of the service range). */
  apiServiceIp: "198.19.0.1",
} as const;

/** How many spot nodes can run at once: slots 1–50, each with an address and a pod range of its own. */
export const SPOT_SLOTS = 50;

/**
 * Spot node `slot`'s addresses: its own on the bridge (a veth from its network namespace), and its pods'
 * range, which the host routes through it.
 */
export function spotAddresses(slot: number): { nodeIp: string; podCidr: string; podGateway: string } {
  if (!Number.isInteger(slot) || slot < 1 || slot > SPOT_SLOTS) {
    throw new RangeError(`spot node slot ${slot} outside 1..${SPOT_SLOTS}`);
  }
  return { nodeIp: `198.18.0.${200 + slot}`, podCidr: `198.18.${slot}.0/24`, podGateway: `198.18.${slot}.1` };
}

/**
 * Host loopback services that pods reach at `gateway:port`, without listening beyond loopback: the
 * emulators, and the port where the e2e tier's fault-injecting proxy listens while its chaos tests run.
 */
export const POD_REACHABLE_PORTS = { awsEmulator: 4566, gcsEmulator: 4443, faultProxy: 4599 } as const;

const CHAINS = {
  filter: { FORWARD: "SPILLWAY-FORWARD", INPUT: "SPILLWAY-INPUT" },
  nat: { PREROUTING: "SPILLWAY-PREROUTING" },
} as const;

type Table = keyof typeof CHAINS;

/** The rules of each of our chains, as iptables arguments after `-A CHAIN`; pure, so it is table-tested. */
export function chainRules(
  apiserverPort: number,
): { table: Table; hook: string; chain: string; rules: string[][] }[] {
  const fromPods = ["-i", NETWORK.bridge];
  const toLoopback = (ip: string, port: number, to: number) => [
    ...fromPods,
    "-d",
    ip,
    "-p",
    "tcp",
    "--dport",
    String(port),
    "-j",
    "DNAT",
    "--to-destination",
    `127.0.0.1:${to}`,
  ];
  return [
    {
      table: "filter",
      hook: "FORWARD",
      chain: CHAINS.filter.FORWARD,
      // Pod traffic stays on the bridge: anything routed elsewhere is refused, never masqueraded.
      rules: [
        [...fromPods, "!", "-o", NETWORK.bridge, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
      ],
    },
    {
      table: "filter",
      hook: "INPUT",
      chain: CHAINS.filter.INPUT,
      // route_localnet lets the DNAT below reach loopback; a pod must not reach the rest of it directly.
      rules: [[...fromPods, "-d", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "DNAT", "-j", "DROP"]],
    },
    {
      table: "nat",
      hook: "PREROUTING",
      chain: CHAINS.nat.PREROUTING,
      rules: [
        // The API server listens on loopback only; in-cluster clients dial the `kubernetes` ClusterIP.
        toLoopback(NETWORK.apiServiceIp, 443, apiserverPort),
        // Spot nodes (and their pods, after their own node's DNAT) dial it at the gateway.
        toLoopback(NETWORK.gateway, apiserverPort, apiserverPort),
        ...Object.values(POD_REACHABLE_PORTS).map((p) => toLoopback(NETWORK.gateway, p, p)),
      ],
    },
  ];
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function ok(cmd: string, args: string[]): boolean {
  try {
    sh(cmd, args);
    return true;
  } catch {
    return false;
  }
}

function sysctl(key: string, value: string): void {
  writeFileSync(`/proc/sys/${key.replaceAll(".", "/")}`, value);
}

/**
 * Creates the bridge, the routes and our iptables chains. Idempotent: what exists is replaced, so a
 * start after a crash converges.
 */
export function setUp(apiserverPort: number): void {
  sh("ip", ["route", "replace", "unreachable", NETWORK.range]);
  if (!ok("ip", ["link", "show", NETWORK.bridge]))
    sh("ip", ["link", "add", NETWORK.bridge, "type", "bridge"]);
  sh("ip", ["addr", "replace", `${NETWORK.gateway}/24`, "dev", NETWORK.bridge]);
  sh("ip", ["link", "set", NETWORK.bridge, "up"]);
  // ClusterIPs need a route before kube-proxy's DNAT runs; it ends on the bridge too.
  sh("ip", ["route", "replace", NETWORK.serviceCidr, "dev", NETWORK.bridge, "src", NETWORK.gateway]);
  sysctl(`net.ipv4.conf.${NETWORK.bridge}.route_localnet`, "1");
  sysctl("net.ipv4.ip_forward", "1");
  // Service traffic between pods on one bridge must pass iptables to be un-NATed (kube-proxy needs it).
  sysctl("net.bridge.bridge-nf-call-iptables", "1");
  for (const { table, hook, chain, rules } of chainRules(apiserverPort)) {
    if (!ok("iptables", ["-t", table, "-N", chain])) sh("iptables", ["-t", table, "-F", chain]);
    for (const r of rules) sh("iptables", ["-t", table, "-A", chain, ...r]);
    if (!ok("iptables", ["-t", table, "-C", hook, "-j", chain])) {
      sh("iptables", ["-t", table, "-I", hook, "1", "-j", chain]);
    }
  }
}

/** Removes what setUp made; returns one line per thing it found and removed. */
export function tearDown(): string[] {
  const removed: string[] = [];
  for (const [table, hooks] of Object.entries(CHAINS)) {
    for (const [hook, chain] of Object.entries(hooks)) {
      let jumped = false;
      while (ok("iptables", ["-t", table, "-D", hook, "-j", chain])) jumped = true;
      if (ok("iptables", ["-t", table, "-F", chain]) && ok("iptables", ["-t", table, "-X", chain])) {
        removed.push(`iptables chain ${table}/${chain}`);
      } else if (jumped) removed.push(`iptables jump ${table}/${hook} -> ${chain}`);
    }
  }
  if (ok("ip", ["link", "show", NETWORK.bridge])) {
    sh("ip", ["link", "delete", NETWORK.bridge]);
    removed.push(`bridge ${NETWORK.bridge}`);
  }
  if (sh("ip", ["route", "show", "type", "unreachable", NETWORK.range]).trim()) {
    sh("ip", ["route", "delete", "unreachable", NETWORK.range]);
    removed.push(`route unreachable ${NETWORK.range}`);
  }
  return removed;
}
