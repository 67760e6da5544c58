import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { missingCredentials } from "../../../src/cli/smoke/clouds.js";

const home = mkdtempSync(join(tmpdir(), "spillway-creds-"));
const base = { HOME: home, KUBECONFIG: "/fleet/kubeconfig" };

describe("smoke credentials", () => {
  it("names every missing piece, the fleet's cluster included", () => {
    expect(missingCredentials("aws", { HOME: home })).toBe(
      "AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE); KUBECONFIG (the fleet's cluster, where the node joins)",
    );
    expect(missingCredentials("aws", { ...base, AWS_PROFILE: "fleet" })).toBeUndefined();
    expect(missingCredentials("hetzner", base)).toBe("HCLOUD_TOKEN (a Hetzner Cloud API token)");
    expect(missingCredentials("local", {})).toBeUndefined();
  });

  it("gcp: a key file that exists, or gcloud's application default credentials", () => {
    expect(missingCredentials("gcp", base)).toMatch(/^GCP credentials \(GOOGLE_APPLICATION_CREDENTIALS/);
    expect(
      missingCredentials("gcp", { ...base, GOOGLE_APPLICATION_CREDENTIALS: join(home, "nope.json") }),
    ).toBe(`GOOGLE_APPLICATION_CREDENTIALS names ${join(home, "nope.json")}, which does not exist`);
    mkdirSync(join(home, ".config", "gcloud"), { recursive: true });
    writeFileSync(join(home, ".config", "gcloud", "application_default_credentials.json"), "{}");
    expect(missingCredentials("gcp", base)).toBeUndefined();
    expect(missingCredentials("gcp", { ...base, CLOUDSDK_CONFIG: join(home, "elsewhere") })).toMatch(/^GCP/);
  });
});
