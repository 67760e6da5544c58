import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import type { Duplex } from "node:stream";
import { promisify } from "node:util";
import { repoRoot, tool } from "../../src/lib/paths.js";
import { STACK_IDS, type StackId } from "../../infra/stacks/index.js";
import type { Synthesized, SynthesizedApp } from "./infra.js";

const execFileAsync = promisify(execFile);
export const POLICIES = join(repoRoot, "policies");

/** Runs the OPA CLI; resolves with stdout, rejects with OPA's own output on a non-zero exit. */
export async function opa(...args: string[]): Promise<string> {
  return (await execFileAsync(tool("opa"), args, { cwd: repoRoot, maxBuffer: 16 << 20 })).stdout;
}

export interface Denials {
  security: string[];
  cost: string[];
}

/** Every policy's denials for one synthesized stack (its cdk.tf.json). */
export async function denials(stackJson: string): Promise<Denials> {
  const out = await opa(
    "eval",
    "-d",
    POLICIES,
    "-i",
    stackJson,
    "-f",
    "json",
    '{"security": data.spillway.security.deny, "cost": data.spillway.cost.deny}',
  );
  const result = JSON.parse(out) as { result: { expressions: { value: Denials }[] }[] };
  return result.result[0]!.expressions[0]!.value;
}

/** One failed checkov check, on a resource named by its construct path where it has one. */
export interface CheckovFinding {
  stack: StackId;
  check: string;
  resource: string;
  title: string;
}

export interface CheckovReport {
  findings: CheckovFinding[];
  /** Checks passed per stack: none means checkov judged nothing there. */
  passed: Partial<Record<StackId, number>>;
  /** Stacks whose file checkov could not parse (it reports them, then passes). */
  parseErrors: StackId[];
  /** Every request checkov made: its proxy refuses them all, so this should stay empty. */
  network: string[];
}

interface CheckovRecord {
  check_id: string;
  check_name: string;
  file_path: string;
  resource: string;
}
interface CheckovOutput {
  results?: { failed_checks?: CheckovRecord[]; passed_checks?: CheckovRecord[]; parsing_errors?: string[] };
}

/**
 * A copy of a stack's cdk.tf.json that checkov can parse. Its terraform_json parser fails on any plain
 * attribute of the `terraform` block, here `required_version` (bridgecrewio/checkov#7454, fix unmerged);
 * no check reads that block, so the copy drops its plain attributes.
 */
function checkovReadable(json: Synthesized): Synthesized {
  const terraform = Object.fromEntries(
    Object.entries(json.terraform).filter(([, value]) => typeof value === "object" && value !== null),
  );
  return { ...json, terraform };
}

/** Construct path of every resource and data source of a stack, by Terraform name. */
function constructPaths(json: Synthesized): Map<string, string> {
  const paths = new Map<string, string>();
  for (const blocks of [json.resource, json.data ?? {}]) {
    for (const byName of Object.values(blocks)) {
      for (const [name, body] of Object.entries(byName)) {
        const path = (body as { "//"?: { metadata?: { path?: string } } })["//"]?.metadata?.path;
        if (path) paths.set(name, path);
      }
    }
  }
  return paths;
}

/** An HTTP(S) proxy that refuses every request and records it. */
async function refusingProxy(): Promise<{ url: string; seen: string[]; close: () => void }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method ?? "?"} ${req.url ?? ""}`);
    res.writeHead(403).end();
  });
  server.on("connect", (req: IncomingMessage, socket: Duplex) => {
    seen.push(`CONNECT ${req.url ?? ""}`);
    socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
}

/**
 * checkov (terraform_json) over the given stacks of a synthesized app, in one run, offline: no platform
 * API key, no guideline mapping, update check or package scan, and a proxy that refuses (and records) any
 * request it would make anyway. `--soft-fail`: failed checks are read from the report, not the exit code.
 */
export async function checkov(
  app: SynthesizedApp,
  stacks: readonly StackId[] = STACK_IDS,
): Promise<CheckovReport> {
  const dir = join(app.outdir, "checkov");
  const paths = new Map<StackId, Map<string, string>>();
  for (const id of stacks) {
    const json = app.json(id) as Synthesized;
    paths.set(id, constructPaths(json));
    mkdirSync(join(dir, id), { recursive: true });
    writeFileSync(join(dir, id, "cdk.tf.json"), JSON.stringify(checkovReadable(json), null, 2));
  }
  const proxy = await refusingProxy();
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(BC_|PRISMA_|CKV_|CHECKOV_)|^no_proxy$/i.test(k)),
    ),
    BC_SKIP_MAPPING: "TRUE",
    CKV_SKIP_PACKAGE_UPDATE_CHECK: "true",
    CHECKOV_RUN_SCA_PACKAGE_SCAN_V2: "false",
    // No cache from an earlier run (its update check's answer, for one) to hide a request.
    XDG_CACHE_HOME: join(dir, ".cache"),
    HTTP_PROXY: proxy.url,
    HTTPS_PROXY: proxy.url,
    http_proxy: proxy.url,
    https_proxy: proxy.url,
  };
  const args = ["-d", dir, "--framework", "terraform_json", "--skip-download", "--soft-fail", "--compact"];
  let out: CheckovOutput;
  try {
    const run = await execFileAsync(tool("checkov"), [...args, "-o", "json"], { env, maxBuffer: 64 << 20 });
    out = JSON.parse(run.stdout) as CheckovOutput;
  } finally {
    proxy.close();
  }

  // Report paths are relative to `dir`: /<stack>/cdk.tf.json.
  const stackOf = (file: string) => file.split("/").find(Boolean) as StackId;
  const findings = (out.results?.failed_checks ?? []).map((r) => {
    const stack = stackOf(r.file_path);
    // Python checks name a resource `resource.<name>`, graph checks `<type>.<name>`.
    const name = r.resource.slice(r.resource.indexOf(".") + 1);
    return {
      stack,
      check: r.check_id,
      resource: paths.get(stack)?.get(name) ?? r.resource,
      title: r.check_name,
    };
  });
  const passed: Partial<Record<StackId, number>> = {};
  for (const r of out.results?.passed_checks ?? []) {
    const stack = stackOf(r.file_path);
    passed[stack] = (passed[stack] ?? 0) + 1;
  }
  const parseErrors = (out.results?.parsing_errors ?? []).map((file) => stackOf(relative(dir, file)));
  return { findings, passed, parseErrors, network: proxy.seen };
}
