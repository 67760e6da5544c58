import { describe, expect, it } from "vitest";
import { NETWORK, POD_REACHABLE_PORTS, chainRules } from "../../testbed/cluster/network.js";
import { cniConfig, kubeProxyConfig, kubeletConfig } from "../../testbed/cluster/node-config.js";
import { BASE_NODE, nodePaths } from "../../testbed/cluster/real-node.js";

/** An IPv4 CIDR as [first, last] numbers. */
function span(cidr: string): [number, number] {
  const [ip = "", bits = "32"] = cidr.split("/");
  const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return [n, n + size - 1];
}
const within = (inner: string, outer: string) => {
  const [a, b] = span(inner);
  const [c, d] = span(outer);
  return a >= c && b <= d;
};

describe("local cluster network plan", () => {
  it("every pod, service and node address lies inside 198.18.0.0/15, and the ranges do not overlap", () => {
    for (const c of [NETWORK.podCidr, NETWORK.kwokPodCidr, NETWORK.serviceCidr]) {
      expect(within(c, NETWORK.range), c).toBe(true);
    }
    for (const ip of [NETWORK.gateway, NETWORK.kwokNodeIp, NETWORK.apiServiceIp]) {
      expect(within(`${ip}/32`, NETWORK.range), ip).toBe(true);
    }
    const [p, k, s] = [NETWORK.podCidr, NETWORK.kwokPodCidr, NETWORK.serviceCidr].map(span);
    const overlap = (x: [number, number], y: [number, number]) => x[0] <= y[1] && y[0] <= x[1];
    expect(p && k && s && (overlap(p, k) || overlap(p, s) || overlap(k, s))).toBe(false);
    expect(within(`${NETWORK.gateway}/32`, NETWORK.podCidr)).toBe(true);
  });

  it("pods may not route beyond the bridge, and reach loopback only through the named DNATs", () => {
    const rules = chainRules(16443);
    const forward = rules.find((r) => r.hook === "FORWARD");
    expect(forward?.rules).toEqual([
      ["-i", "spw0", "!", "-o", "spw0", "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
    ]);
    const dnat = rules.find((r) => r.hook === "PREROUTING")?.rules ?? [];
    const targets = dnat.map((r) => r[r.length - 1]);
    expect(targets).toEqual([
      "127.0.0.1:16443",
      "127.0.0.1:16443",
      ...Object.values(POD_REACHABLE_PORTS).map((p) => `127.0.0.1:${p}`),
    ]);
    for (const r of dnat) expect(r.slice(0, 2)).toEqual(["-i", "spw0"]);
    const flat = rules.flatMap((r) => r.rules.flat());
    expect(flat).not.toContain("MASQUERADE");
  });

  it("the node's components listen on loopback or the bridge only, and nothing masquerades", () => {
    const p = nodePaths("/state");
    const tls = { caCert: "/ca", cert: "/c", key: "/k" };
    const kubelet = kubeletConfig(p, BASE_NODE, tls) as Record<string, unknown>;
    expect([kubelet.address, kubelet.healthzBindAddress]).toEqual([NETWORK.gateway, "127.0.0.1"]);
    expect(kubelet.readOnlyPort).toBe(0);
    expect(kubelet.authentication).toMatchObject({ anonymous: { enabled: false } });
    const proxy = kubeProxyConfig("/k", BASE_NODE) as Record<string, unknown>;
    expect(String(proxy.healthzBindAddress)).toMatch(/^127\.0\.0\.1:/);
    expect(String(proxy.metricsBindAddress)).toMatch(/^127\.0\.0\.1:/);
    expect(proxy.nodePortAddresses).toEqual([`${NETWORK.gateway}/32`]);
    const bridge = (
      cniConfig(p, BASE_NODE) as { plugins: { type: string; ipMasq?: boolean; ipam?: unknown }[] }
    ).plugins[0];
    expect(bridge).toMatchObject({ type: "bridge", ipMasq: false });
    expect(JSON.stringify(bridge?.ipam)).toContain(NETWORK.podCidr);
  });
});
