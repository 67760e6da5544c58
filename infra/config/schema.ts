/**
 * The one typed config of an environment's fleet (`infra/config/<env>.yaml`). Stacks read only this:
 * no regions, projects or names are written into them. Validated once, at synth, into a frozen object;
 * a bad config fails synth with every problem named by its field path.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse } from "yaml";
import { cidrContains, isCidr, isWorldCidr } from "../lib/cidr.js";

const Name = (description: string, maxLength = 63) =>
  Type.String({ pattern: "^[a-z]([a-z0-9-]*[a-z0-9])?$", maxLength, description });
const Cidr = Type.String({
  minLength: 4,
  maxLength: 43,
  description: "An IPv4 or IPv6 CIDR, e.g. 10.0.0.0/16.",
});
const Usd = Type.Number({ exclusiveMinimum: 0, maximum: 1000 });
const Quantity = Type.Union([
  Type.Integer({ minimum: 1 }),
  Type.String({ pattern: "^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$" }),
]);

/** What one spot node offers the scheduler, copied into the pool's BurstPool. */
const NodeCapacity = Type.Object({ cpu: Quantity, memory: Quantity }, { additionalProperties: false });

const NewVpc = Type.Object(
  {
    cidr: Cidr,
    /** One public subnet per availability zone; spot capacity is spread across them. */
    subnets: Type.Array(
      Type.Object({ zone: Type.String({ minLength: 1 }), cidr: Cidr }, { additionalProperties: false }),
      {
        minItems: 1,
        maxItems: 6,
      },
    ),
  },
  { additionalProperties: false },
);
const ExistingVpc = Type.Object(
  {
    id: Type.String({ pattern: "^vpc-[0-9a-f]{8,17}$" }),
    subnetIds: Type.Array(Type.String({ pattern: "^subnet-[0-9a-f]{8,17}$" }), { minItems: 1, maxItems: 16 }),
  },
  { additionalProperties: false },
);

export const InfraConfigSchema = Type.Object(
  {
    /** Names every resource and is the `environment` tag/label. */
    environment: Name("Environment name, e.g. dev or prod.", 16),
    /** The `project` tag/label, and the prefix of resource names. */
    project: Name("Project name.", 24),
    /** Extra tags/labels on every taggable resource (the required project/environment/managed-by are added). */
    labels: Type.Record(Type.String({ pattern: "^[a-z][a-z0-9_-]{0,62}$" }), Type.String({ maxLength: 63 }), {
      default: {},
    }),
    cluster: Type.Object(
      {
        /** DNS name of the k3s API: a TLS SAN of the server and the address spot nodes join. */
        apiHost: Type.String({ pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", maxLength: 253 }),
        k3sVersion: Type.String({ pattern: "^v1\\.[0-9]+\\.[0-9]+\\+k3s[0-9]+$" }),
      },
      { additionalProperties: false },
    ),
    /** Who may reach the Kubernetes API (6443), HTTPS ingress (443) and SSH. Never the whole internet. */
    adminCidrs: Type.Array(Cidr, { minItems: 1, maxItems: 32 }),
    /**
     * Public egress ranges of the spot pools (their NAT or elastic IPs, or the cloud's published ranges):
     * spot nodes join the k3s API from them and reach the WireGuard mesh (51820/udp).
     */
    nodeCidrs: Type.Array(Cidr, { minItems: 1, maxItems: 64 }),
    sshKeys: Type.Array(
      Type.Object(
        {
          name: Name("SSH key name."),
          publicKey: Type.String({
            pattern: "^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$",
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 10 },
    ),
    hetzner: Type.Object(
      {
        /** Servers and their public IPs live in one datacenter, e.g. fsn1-dc14. */
        datacenter: Type.String({ pattern: "^[a-z]{3}[0-9]-dc[0-9]+$" }),
        networkZone: Type.String({ pattern: "^[a-z]+-[a-z]+$", description: "e.g. eu-central." }),
        networkCidr: Cidr,
        subnetCidr: Cidr,
        serverType: Type.String({ pattern: "^[a-z]+[0-9]+$" }),
        image: Type.String({ minLength: 1 }),
        servers: Type.Integer({ minimum: 1, maximum: 50 }),
      },
      { additionalProperties: false },
    ),
    aws: Type.Object(
      {
        region: Type.String({ pattern: "^[a-z]{2}(-gov)?-[a-z]+-[0-9]$" }),
        vpc: Type.Union([NewVpc, ExistingVpc]),
        imageId: Type.String({ pattern: "^ami-[0-9a-f]{8,17}$" }),
        /** Several types, so the price-capacity-optimized strategy has pools to choose from. */
        instanceTypes: Type.Array(Type.String({ pattern: "^[a-z][a-z0-9-]*\\.[a-z0-9]+$" }), {
          minItems: 1,
          maxItems: 20,
        }),
        maxNodes: Type.Integer({ minimum: 1, maximum: 1000 }),
        /** Price cap per node-hour; spot requests above it are not fulfilled. */
        maxSpotPriceUsd: Type.Optional(Usd),
        /** Expected spot price per node-hour, for the BurstPool the operator budgets with. */
        hourlyPriceUsd: Usd,
        nodeCapacity: NodeCapacity,
        bucket: Type.String({ pattern: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" }),
        /** Days a replaced model file stays recoverable. */
        noncurrentVersionDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
      },
      { additionalProperties: false },
    ),
    gcp: Type.Object(
      {
        project: Type.String({ pattern: "^[a-z][a-z0-9-]{4,28}[a-z0-9]$" }),
        region: Type.String({ pattern: "^[a-z]+-[a-z]+[0-9]$" }),
        subnetCidr: Cidr,
        machineType: Type.String({ pattern: "^[a-z][a-z0-9-]+$" }),
        image: Type.String({ minLength: 1 }),
        maxNodes: Type.Integer({ minimum: 1, maximum: 1000 }),
        hourlyPriceUsd: Usd,
        nodeCapacity: NodeCapacity,
        bucket: Type.String({ pattern: "^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$" }),
        noncurrentVersionDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type InfraConfig = Static<typeof InfraConfigSchema>;
export type AwsConfig = InfraConfig["aws"];
export type GcpConfig = InfraConfig["gcp"];
export type HetznerConfig = InfraConfig["hetzner"];

export class InfraConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid infrastructure config\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "InfraConfigError";
  }
}

/** "/aws/instanceTypes/0" → "aws.instanceTypes[0]", the way a reader of the YAML names the field. */
function fieldPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : `${i ? "." : ""}${part}`))
    .join("");
}

function schemaProblems(schema: TSchema, value: unknown): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const error of Value.Errors(schema, value)) {
    const field = fieldPath(error.path) || "(root)";
    // A union reports every branch; the first error per field is the readable one.
    if (seen.has(field)) continue;
    seen.add(field);
    problems.push(`${field}: ${error.message}`);
  }
  return problems;
}

/** Rules a JSON schema cannot say: CIDR syntax and containment, no world-open admin access. */
function semanticProblems(c: InfraConfig): string[] {
  const problems: string[] = [];
  const cidrs: [string, string][] = [
    ...c.adminCidrs.map((v, i): [string, string] => [`adminCidrs[${i}]`, v]),
    ["hetzner.networkCidr", c.hetzner.networkCidr],
    ["hetzner.subnetCidr", c.hetzner.subnetCidr],
    ...c.nodeCidrs.map((v, i): [string, string] => [`nodeCidrs[${i}]`, v]),
    ["gcp.subnetCidr", c.gcp.subnetCidr],
  ];
  if ("cidr" in c.aws.vpc) {
    cidrs.push(["aws.vpc.cidr", c.aws.vpc.cidr]);
    c.aws.vpc.subnets.forEach((s, i) => cidrs.push([`aws.vpc.subnets[${i}].cidr`, s.cidr]));
  }
  const bad = cidrs.filter(([, v]) => !isCidr(v));
  problems.push(...bad.map(([f, v]) => `${f}: "${v}" is not a CIDR (address/prefix, host bits zero)`));
  if (bad.length) return problems;

  for (const [field, value] of cidrs) {
    if ((field.startsWith("adminCidrs") || field.startsWith("nodeCidrs")) && isWorldCidr(value)) {
      problems.push(
        `${field}: ${value} opens the Kubernetes API to the whole internet; name the networks that need it`,
      );
    }
  }
  if (!cidrContains(c.hetzner.networkCidr, c.hetzner.subnetCidr)) {
    problems.push(
      `hetzner.subnetCidr: ${c.hetzner.subnetCidr} is not inside hetzner.networkCidr ${c.hetzner.networkCidr}`,
    );
  }
  if ("cidr" in c.aws.vpc) {
    const vpc = c.aws.vpc;
    vpc.subnets.forEach((s, i) => {
      if (!cidrContains(vpc.cidr, s.cidr)) {
        problems.push(`aws.vpc.subnets[${i}].cidr: ${s.cidr} is not inside aws.vpc.cidr ${vpc.cidr}`);
      }
      if (!s.zone.startsWith(c.aws.region)) {
        problems.push(`aws.vpc.subnets[${i}].zone: ${s.zone} is not in aws.region ${c.aws.region}`);
      }
    });
  }
  const dupes = c.aws.instanceTypes.filter((t, i, all) => all.indexOf(t) !== i);
  if (dupes.length) problems.push(`aws.instanceTypes: ${dupes.join(", ")} listed twice`);
  if (c.aws.maxSpotPriceUsd !== undefined && c.aws.maxSpotPriceUsd < c.aws.hourlyPriceUsd) {
    problems.push(
      `aws.maxSpotPriceUsd: ${c.aws.maxSpotPriceUsd} is below aws.hourlyPriceUsd ${c.aws.hourlyPriceUsd}; no node would launch at the expected price`,
    );
  }
  const names = c.sshKeys.map((k) => k.name);
  if (new Set(names).size !== names.length) problems.push("sshKeys: names must be unique");
  return problems;
}

/** Validates a parsed config: defaults applied, every problem listed, the result frozen. */
export function validateConfig(raw: unknown, source = "config"): InfraConfig {
  const value: unknown = Value.Default(InfraConfigSchema, structuredClone(raw ?? {}));
  const problems = schemaProblems(InfraConfigSchema, value);
  if (problems.length) throw new InfraConfigError(source, problems);
  const config = value as InfraConfig;
  const semantic = semanticProblems(config);
  if (semantic.length) throw new InfraConfigError(source, semantic);
  return Object.freeze(config);
}

/**
 * The config the CDKTF app and the scripts build from: SPILLWAY_CONFIG (a path), else
 * infra/config/$SPILLWAY_ENV.yaml (default dev).
 */
export function environmentConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.SPILLWAY_CONFIG ?? join(dirname(fileURLToPath(import.meta.url)), `${env.SPILLWAY_ENV ?? "dev"}.yaml`)
  );
}

export function loadConfig(path: string = environmentConfigPath()): InfraConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new InfraConfigError(path, [(err as Error).message]);
  }
  return validateConfig(raw, path);
}
