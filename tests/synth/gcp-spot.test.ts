import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { NODE_PROJECT_ROLES } from "../../infra/constructs/gcp-spot-pool.js";
import { onlyResource, resourcesOf, synth, infraTestConfig, textOf } from "../helpers/infra.js";

describe("gcp-spot stack", () => {
  const config = infraTestConfig();
  const json = synth("gcp-spot", config);
  const ref = (type: string, attr: string) => `\${${type}.${onlyResource(json, type).tfName}.${attr}}`;

  it("templates SPOT instances that are deleted, never restarted, when preempted", () => {
    const template = onlyResource(json, "google_compute_instance_template");
    expect(template.scheduling).toEqual({
      provisioning_model: "SPOT",
      preemptible: true,
      automatic_restart: false,
      on_host_maintenance: "TERMINATE",
      instance_termination_action: "DELETE",
    });
    expect(template.machine_type).toBe(config.gcp.machineType);
    expect(template.service_account.email).toBe(ref("google_service_account", "email"));
    expect(template.metadata["block-project-ssh-keys"]).toBe("true");
    expect(template.lifecycle).toEqual({ create_before_destroy: true });
  });

  it("joins nodes to the base cluster with burst labels and the spot taint", () => {
    const template = onlyResource(json, "google_compute_instance_template");
    const cloudInit = parse(template.metadata["user-data"] as string);
    const k3s = parse(cloudInit.write_files[0].content as string);
    expect(k3s).toEqual({
      server: "https://k8s.dev.example.com:6443",
      token: "${var.k3s_token}",
      "node-label": [
        "spillway.dev/tier=burst",
        "spillway.dev/provider=gcp",
        "spillway.dev/pool=spillway-dev-spot-europe-west4",
      ],
      "node-taint": ["spillway.dev/spot=true:NoSchedule"],
      // Spot preemption is a 30 s ACPI soft-off: the kubelet shuts down gracefully within it.
      "kubelet-arg": ["shutdown-grace-period=30s", "shutdown-grace-period-critical-pods=15s"],
    });
    const script = textOf(cloudInit.runcmd);
    expect(script).toContain("Metadata-Flavor: Google");
    expect(script).toContain("InhibitDelayMaxSec=30");
    // The node's providerID names its VM, so the operator removes exactly that one.
    expect(script).toMatch(/kubelet-arg\+: \[provider-id=.*gce:\/\//);
  });

  it("runs a regional managed instance group at target size 0, sized by the operator", () => {
    const group = onlyResource(json, "google_compute_region_instance_group_manager");
    expect(group).toMatchObject({
      name: "spillway-dev-spot-europe-west4",
      region: config.gcp.region,
      target_size: 0,
      lifecycle: { ignore_changes: ["target_size"] },
      version: [
        { name: "spot", instance_template: ref("google_compute_instance_template", "self_link_unique") },
      ],
    });
  });

  it("keeps the model bucket IAM-only, never public, versioned, with old versions deleted", () => {
    expect(onlyResource(json, "google_storage_bucket")).toMatchObject({
      name: config.gcp.bucket,
      location: "EUROPE-WEST4",
      uniform_bucket_level_access: true,
      public_access_prevention: "enforced",
      versioning: { enabled: true },
      lifecycle_rule: [
        { condition: { days_since_noncurrent_time: 30 }, action: { type: "Delete" } },
        { condition: { age: 7, with_state: "ANY" }, action: { type: "AbortIncompleteMultipartUpload" } },
      ],
      labels: { team: "platform", project: "spillway", environment: "dev", "managed-by": "cdktf" },
    });
  });

  it("grants the node account logs, metrics and reading the bucket: nothing else", () => {
    const member = `serviceAccount:${ref("google_service_account", "email")}`;
    expect(resourcesOf(json, "google_project_iam_member").map((m) => [m.role, m.member])).toEqual(
      NODE_PROJECT_ROLES.map((role) => [role, member]),
    );
    expect(onlyResource(json, "google_storage_bucket_iam_member")).toMatchObject({
      bucket: ref("google_storage_bucket", "name"),
      role: "roles/storage.objectViewer",
      member,
    });
    const template = onlyResource(json, "google_compute_instance_template");
    expect(template.service_account.scopes).toEqual(["cloud-platform"]); // IAM, not scopes, limits it
  });

  it("admits only WireGuard from the fleet's nodes", () => {
    const firewall = onlyResource(json, "google_compute_firewall");
    expect(firewall).toMatchObject({
      direction: "INGRESS",
      source_ranges: config.nodeCidrs,
      allow: [{ protocol: "udp", ports: ["51820"] }],
      target_tags: ["spillway-dev-spot-node"],
    });
    expect(onlyResource(json, "google_compute_instance_template").tags).toEqual(["spillway-dev-spot-node"]);
    // Flow logs record who reached the nodes, sampled so their volume stays small.
    expect(onlyResource(json, "google_compute_subnetwork").log_config).toEqual({
      aggregation_interval: "INTERVAL_10_MIN",
      flow_sampling: 0.1,
      metadata: "EXCLUDE_ALL_METADATA",
    });
  });

  it("takes the project and region from the config", () => {
    expect(json.provider.google![0]).toMatchObject({
      project: config.gcp.project,
      region: config.gcp.region,
    });
    const other = synth(
      "gcp-spot",
      infraTestConfig((r) =>
        Object.assign(r.gcp, { project: "acme-prod-1", region: "us-east4", bucket: "acme-models" }),
      ),
    );
    expect(textOf(other)).not.toMatch(/spillway-dev-000000|europe-west4/);
  });

  it("matches its snapshot", () => {
    expect(json).toMatchSnapshot();
  });
});
