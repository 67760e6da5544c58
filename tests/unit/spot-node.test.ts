import { describe, expect, it } from "vitest";
import { nodeSpec } from "../../testbed/cluster/cloud-nodes.js";
import { NETWORK, SPOT_SLOTS, spotAddresses } from "../../testbed/cluster/network.js";
import { kubeletConfig } from "../../testbed/cluster/node-config.js";
import { BASE_NODE } from "../../testbed/cluster/real-node.js";
import { namespaceRules, networkPlan, spotShape } from "../../testbed/cluster/spot-node.js";

const ipNumber = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const inCidr = (ip: string, cidr: string) => {
  const [net = "", bits = "32"] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  return ipNumber(ip) >= ipNumber(net) && ipNumber(ip) < ipNumber(net) + size;
};

describe("spot node address plan", () => {
  it.each([1, 2, 17, SPOT_SLOTS])(
    "slot %i: its own address on the bridge, outside the base pods' range",
    (slot) => {
      const a = spotAddresses(slot);
      expect(inCidr(a.nodeIp, NETWORK.podCidr)).toBe(true);
      expect(ipNumber(a.nodeIp)).toBeGreaterThan(ipNumber(NETWORK.basePodRange.end));
      expect(inCidr(a.podGateway, a.podCidr)).toBe(true);
      // Its pods are real pods: inside the range kube-proxy calls the cluster's, outside kwok's and the services'.
      expect(inCidr(a.podGateway, NETWORK.realPodCidr)).toBe(true);
      expect(inCidr(a.podGateway, NETWORK.kwokPodCidr)).toBe(false);
      expect(inCidr(a.podGateway, NETWORK.serviceCidr)).toBe(false);
      expect(inCidr(a.podGateway, NETWORK.podCidr)).toBe(false);
    },
  );

  it.each([0, SPOT_SLOTS + 1, 1.5])("slot %s is refused", (slot) => {
    expect(() => spotAddresses(slot)).toThrow(/outside/);
  });

  it("every slot's pod range is its own", () => {
    const ranges = new Set(Array.from({ length: SPOT_SLOTS }, (_, i) => spotAddresses(i + 1).podCidr));
    expect(ranges.size).toBe(SPOT_SLOTS);
  });
});

describe("spot node network", () => {
  it("a namespace with a veth on the test bed's bridge, a default route to the host, and the host's route to its pods", () => {
    expect(networkPlan(3)).toEqual([
      ["netns", "add", "spw-s3"],
      ["link", "add", "spwv3", "type", "veth", "peer", "name", "eth0", "netns", "spw-s3"],
      ["link", "set", "spwv3", "master", "spw0", "up"],
      ["-n", "spw-s3", "addr", "add", "198.18.0.203/24", "dev", "eth0"],
      ["-n", "spw-s3", "link", "set", "eth0", "up"],
      ["-n", "spw-s3", "link", "set", "lo", "up"],
      ["-n", "spw-s3", "route", "add", "default", "via", "198.18.0.1"],
      ["route", "replace", "198.18.3.0/24", "via", "198.18.0.203", "dev", "spw0"],
    ]);
  });

  it("its pods reach the API server through the gateway, nothing else is forwarded or masqueraded", () => {
    const rules = namespaceRules(16443);
    expect(rules.flat()).not.toContain("MASQUERADE");
    expect(rules.filter((r) => r.includes("DNAT"))).toEqual([
      [
        "-t",
        "nat",
        "-A",
        "SPILLWAY-PREROUTING",
        "-d",
        NETWORK.apiServiceIp,
        "-p",
        "tcp",
        "--dport",
        "443",
        "-j",
        "DNAT",
        "--to-destination",
        `${NETWORK.gateway}:16443`,
      ],
    ]);
  });
});

describe("spot node registration", () => {
  const spec = nodeSpec(
    { name: "spot-aws", group: "g", region: "eu-central-1", cpu: "2", memory: "8Gi" },
    "i-0ABC",
    "eu-central-1b",
    "v1.36.3",
  );

  it("carries its pool's labels, the spot taint and its cloud's providerID; never kwok's marks", () => {
    expect(spec.name).toBe("spot-aws-i-0abc");
    expect(spec.real).toMatchObject({
      name: "spot-aws-i-0abc",
      providerID: "aws:///eu-central-1b/i-0ABC",
      taints: ["spillway.dev/spot=true:NoSchedule"],
    });
    expect(spec.real.labels).toMatchObject({
      "spillway.dev/tier": "burst",
      "spillway.dev/provider": "aws",
      "spillway.dev/pool": "spot-aws",
      "topology.kubernetes.io/region": "eu-central-1",
      "topology.kubernetes.io/zone": "eu-central-1b",
    });
    expect(spec.real.labels).not.toHaveProperty("type");
    expect(JSON.stringify(spec.real)).not.toContain("kwok");
  });

  it("its kubelet registers them, on the node's own address, under cgroups apart from the base node's", () => {
    const shape = spotShape(spec.real, 4);
    const paths = {
      dir: "/d",
      containerdRoot: "/r",
      containerdState: "/s",
      socket: "/s/c.sock",
      kubeletRoot: "/k",
      cniConfDir: "/c",
    };
    const kubelet = kubeletConfig(paths, shape, { caCert: "/ca", cert: "/c", key: "/k" }) as Record<
      string,
      unknown
    >;
    expect(kubelet).toMatchObject({
      address: "198.18.0.204",
      providerID: "aws:///eu-central-1b/i-0ABC",
      registerWithTaints: [{ key: "spillway.dev/spot", value: "true", effect: "NoSchedule" }],
      cgroupRoot: "/spillway-spot/s4",
    });
    expect(shape.cgroupRoot.startsWith(BASE_NODE.cgroupRoot + "/")).toBe(false);
  });
});
