import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { onlyResource, resourcesOf, synth, infraTestConfig, textOf } from "../helpers/infra.js";

/** cloud-init of a server, parsed; the k3s config file it writes, parsed. */
function k3sOf(server: Record<string, any>): { cloudInit: any; k3s: any } {
  const cloudInit = parse(server.user_data as string);
  return { cloudInit, k3s: parse(cloudInit.write_files[0].content as string) };
}

describe("hetzner-base stack", () => {
  const config = infraTestConfig();
  const json = synth("hetzner-base", config);

  it("opens the API, HTTPS and SSH only to admins, and WireGuard only to nodes", () => {
    const firewall = onlyResource(json, "hcloud_firewall");
    const rules = Object.fromEntries(
      firewall.rule.map((r: any) => [`${r.protocol}/${r.port}`, r.source_ips]),
    );
    expect(Object.keys(rules).sort()).toEqual(["tcp/22", "tcp/443", "tcp/6443", "udp/51820"]);
    expect(rules["tcp/6443"]).toEqual([...config.adminCidrs, ...config.nodeCidrs]);
    expect(rules["tcp/443"]).toEqual(config.adminCidrs);
    expect(rules["tcp/22"]).toEqual(config.adminCidrs);
    // The mesh admits the base nodes' own primary IPs (known before the servers exist) and spot egress.
    expect(rules["udp/51820"]).toEqual([
      ...resourcesOf(json, "hcloud_primary_ip").map(
        (ip) => `\${hcloud_primary_ip.${ip.tfName}.ip_address}/32`,
      ),
      ...config.nodeCidrs,
    ]);
    for (const rule of firewall.rule) expect(rule.direction).toBe("in");
    expect(textOf(firewall)).not.toMatch(/0\.0\.0\.0\/0|::\/0/);
  });

  it("spreads the servers in one private network, each behind the firewall", () => {
    const servers = resourcesOf(json, "hcloud_server");
    expect(servers).toHaveLength(config.hetzner.servers);
    expect(onlyResource(json, "hcloud_placement_group").type).toBe("spread");
    expect(onlyResource(json, "hcloud_network_subnet").ip_range).toBe(config.hetzner.subnetCidr);
    const firewall = onlyResource(json, "hcloud_firewall");
    servers.forEach((server, i) => {
      expect(server.server_type).toBe(config.hetzner.serverType);
      expect(server.firewall_ids).toEqual([`\${hcloud_firewall.${firewall.tfName}.id}`]);
      expect(server.network[0].ip).toBe(`10.0.1.${10 + i}`);
      expect(server.public_net[0]).toMatchObject({ ipv4_enabled: true, ipv6_enabled: false });
      expect(server.labels).toMatchObject({ project: "spillway", environment: "dev", "managed-by": "cdktf" });
    });
  });

  it("bootstraps k3s: a WireGuard server on the first node, agents joining it on the rest", () => {
    const [first, ...rest] = resourcesOf(json, "hcloud_server");
    const server = k3sOf(first!);
    expect(server.cloudInit.write_files[0]).toMatchObject({
      path: "/etc/rancher/k3s/config.yaml",
      permissions: "0600",
    });
    expect(server.k3s).toMatchObject({
      token: "${var.k3s_token}",
      "flannel-backend": "wireguard-native",
      "flannel-external-ip": true,
      "tls-san": [config.cluster.apiHost],
      "node-ip": "10.0.1.10",
      "node-label": ["spillway.dev/tier=base", "spillway.dev/provider=hetzner"],
    });
    expect(textOf(server.cloudInit.runcmd)).toContain(
      `INSTALL_K3S_VERSION='${config.cluster.k3sVersion}' INSTALL_K3S_EXEC='server'`,
    );
    expect(server.k3s["node-taint"]).toBeUndefined();
    for (const agent of rest) {
      const { k3s, cloudInit } = k3sOf(agent);
      expect(k3s).toMatchObject({
        server: "https://10.0.1.10:6443",
        "node-label": ["spillway.dev/tier=base", "spillway.dev/provider=hetzner"],
      });
      expect(textOf(cloudInit.runcmd)).toContain("INSTALL_K3S_EXEC='agent'");
    }
  });

  it("keeps the join token a sensitive input, out of every output", () => {
    expect(json.variable?.k3s_token).toMatchObject({ sensitive: true, nullable: false, type: "string" });
    expect(textOf(json.output)).not.toContain("k3s_token}");
    expect(json.output?.api_endpoint.value).toBe(`https://${config.cluster.apiHost}:6443`);
    expect(json.output?.join.value).toEqual({
      server_url: `https://${config.cluster.apiHost}:6443`,
      token_variable: "k3s_token",
    });
  });

  it("names no project, region or datacenter the config did not give", () => {
    const other = synth(
      "hetzner-base",
      infraTestConfig((r) => {
        r.project = "acme";
        r.hetzner.datacenter = "hel1-dc2";
      }),
    );
    expect(textOf(other)).not.toMatch(/fsn1|spillway-dev/);
  });

  it("matches its snapshot", () => {
    expect(json).toMatchSnapshot();
  });
});
