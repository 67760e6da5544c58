import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { UserError } from "../../lib/errors.js";
import { writeReport } from "../../lib/report-file.js";
import { generateLoad, type LoadOptions } from "../load/generator.js";
import {
  parseGates,
  progressLine,
  summarize,
  trippedGates,
  type Gate,
  type LoadReport,
} from "../load/report.js";

export const USAGE = `usage: spillway load --url URL [options]

  --url URL            base URL of an OpenAI-compatible server (http://127.0.0.1:8080)
  --model M            model id (default: the first one GET /v1/models lists)
  --users N            simulated users (default 4)
  --ramp S             seconds over which the users start (default 5)
  --duration S         no request starts after S seconds (default 30)
  --max-requests N     no more than N requests in all (default 100000)
  --think-ms MS        mean pause between a user's requests (default 500)
  --max-tokens N       max_tokens of each request (default 16)
  --timeout S          per-request timeout (default 60)
  --cancel-ratio R     share of streamed requests abandoned after the first text (default 0)
  --fail-if GATES      e.g. 'p95_ms>2000,error_rate>0.01': exit 1 when any holds
  --json FILE          also write the report to FILE
  --allow-remote       allow a URL that is not a loopback address
The API key, when the server needs one, is read from OPENAI_API_KEY.
`;

const FLAGS = {
  url: { type: "string" },
  model: { type: "string" },
  users: { type: "string", default: "4" },
  ramp: { type: "string", default: "5" },
  duration: { type: "string", default: "30" },
  "max-requests": { type: "string", default: "100000" },
  "think-ms": { type: "string", default: "500" },
  "max-tokens": { type: "string", default: "16" },
  timeout: { type: "string", default: "60" },
  "cancel-ratio": { type: "string", default: "0" },
  "fail-if": { type: "string" },
  json: { type: "string" },
  "allow-remote": { type: "boolean", default: false },
} as const;

const config = (message: string, fix = "see `spillway load --help`") => new UserError(message, fix, 3);

function number(flag: string, raw: string, min: number, integer = true): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw config(`--${flag} must be ${integer ? "an integer" : "a number"} >= ${min}, got '${raw}'`);
  }
  return n;
}

const LOOPBACK_V4 = /^127\.\d+\.\d+\.\d+$/;
const isLoopback = (address: string) =>
  LOOPBACK_V4.test(address) || address === "::1" || LOOPBACK_V4.test(address.replace(/^::ffff:/, ""));

/** Refuses a target that is not on this machine unless the user said otherwise: load is traffic. */
async function checkTarget(url: URL, allowRemote: boolean): Promise<void> {
  if (allowRemote) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(host)
    ? [host]
    : await lookup(host, { all: true }).then(
        (all) => all.map((a) => a.address),
        () => {
          throw new UserError(`cannot resolve '${host}'`, "check --url", 2);
        },
      );
  const remote = addresses.filter((a) => !isLoopback(a));
  if (remote.length) {
    throw config(
      `--url ${url.origin} is not a loopback address (${remote.join(", ")})`,
      "load is real traffic: pass --allow-remote to send it to another machine",
    );
  }
}

/** The model to ask for: the flag, else the first the server lists; also proves the server answers. */
async function resolveModel(
  url: string,
  model: string | undefined,
  apiKey: string | undefined,
): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${url}/v1/models`, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const inner = (err as { cause?: { code?: string; message?: string } }).cause;
    const cause = inner?.code ?? inner?.message ?? (err as Error).message;
    throw new UserError(`nothing answers at ${url} (${cause})`, "start the server, or check --url", 2);
  }
  if (res.status === 401) {
    throw config(`${url} wants an API key (401)`, "export OPENAI_API_KEY with the server's key");
  }
  if (!res.ok) throw new UserError(`${url}/v1/models answered ${res.status}`, "check --url", 2);
  if (model) return model;
  const listed = ((await res.json()) as { data?: { id: string }[] }).data?.[0]?.id;
  if (!listed) throw config(`${url}/v1/models lists no model`, "pass --model");
  return listed;
}

export function parseLoadArgs(args: string[], env: NodeJS.ProcessEnv = process.env) {
  let values;
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw config((err as Error).message.split("\n")[0] ?? String(err));
  }
  if (!values.url) throw config("--url is required", "e.g. spillway load --url http://127.0.0.1:8080");
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw config(`--url '${values.url}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw config(`--url must be http or https`);
  let gates: Gate[];
  try {
    gates = values["fail-if"] ? parseGates(values["fail-if"]) : [];
  } catch (err) {
    throw config(`--fail-if: ${(err as Error).message}`);
  }
  const options: Omit<LoadOptions, "model"> & { model?: string } = {
    url: url.href.replace(/\/+$/, ""),
    model: values.model,
    users: number("users", values.users, 1),
    rampSeconds: number("ramp", values.ramp, 0, false),
    durationSeconds: number("duration", values.duration, 1, false),
    maxRequests: number("max-requests", values["max-requests"], 1),
    thinkMs: number("think-ms", values["think-ms"], 0),
    maxTokens: number("max-tokens", values["max-tokens"], 1),
    timeoutMs: number("timeout", values.timeout, 1, false) * 1000,
    cancelRatio: Math.min(1, number("cancel-ratio", values["cancel-ratio"], 0, false)),
    apiKey: env.OPENAI_API_KEY || undefined,
  };
  return { options, gates, url, json: values.json, allowRemote: values["allow-remote"] };
}

/** `spillway load`: runs, prints progress and the JSON report, and fails on a tripped gate. */
export async function run(args: string[]): Promise<LoadReport | undefined> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const { options, gates, url, json, allowRemote } = parseLoadArgs(args);
  await checkTarget(url, allowRemote);
  const model = await resolveModel(options.url, options.model, options.apiKey);
  const tty = process.stderr.isTTY;
  // Without a terminal: a line at the first progress report, then every 5 s (a short run still gets one).
  let lastLine = -Infinity;
  const { samples, durationSeconds } = await generateLoad({ ...options, model }, (p) => {
    const line = `[load] ${progressLine(p.samples, p.elapsedSeconds, p.activeUsers)}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (p.elapsedSeconds - lastLine >= 5) {
      lastLine = p.elapsedSeconds;
      process.stderr.write(`${line}\n`);
    }
  });
  if (tty) process.stderr.write("\n");
  const report = summarize(samples, { url: options.url, model, users: options.users, durationSeconds });
  const text = JSON.stringify(report, null, 2);
  process.stdout.write(`${text}\n`);
  if (json) writeReport(json, text);
  const tripped = trippedGates(report, gates);
  if (tripped.length) {
    throw new UserError(`gate tripped: ${tripped.join("; ")}`, "the report above has every number", 1);
  }
  return report;
}
