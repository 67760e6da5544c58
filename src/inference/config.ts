import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { SERVER_PORT } from "../api/server.js";

/**
 * The inference server's configuration, validated once into a typed object. Every option is a flag and
 * an environment variable (flags win); the API key is environment-only (SPILLWAY_API_KEY or
 * SPILLWAY_API_KEY_FILE), so it never shows up in a process list.
 */
const Int = (min: number, max: number, def?: number) =>
  Type.Integer({ minimum: min, maximum: max, ...(def === undefined ? {} : { default: def }) });

export const ConfigSchema = Type.Object({
  model: Type.String({ minLength: 1, description: "path, file://, https://, s3:// or gs:// URI of a GGUF" }),
  modelSha256: Type.Optional(Type.String({ pattern: "^[a-f0-9]{64}$" })),
  modelId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  contextSize: Int(16, 1 << 20, 2048),
  parallel: Int(1, 256, 4),
  /** 0 = choose by the work (see threads.ts). */
  threads: Int(0, 1024, 0),
  batchSize: Int(1, 1 << 16, 512),
  maxQueue: Int(0, 100_000, 64),
  requestTimeoutSeconds: Int(1, 86_400, 300),
  drainGraceSeconds: Int(0, 3600, 30),
  port: Int(0, 65_535, SERVER_PORT),
  host: Type.String({ default: "127.0.0.1" }),
  cacheDir: Type.String({ default: join(homedir(), ".cache", "spillway", "models") }),
  logLevel: Type.Union(
    ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
    { default: "info" },
  ),
  apiKey: Type.Optional(Type.String({ minLength: 1 })),
});

export type Config = Static<typeof ConfigSchema>;

/** option → [flag, environment variable]; numbers are parsed before validation. */
const SOURCES: Record<Exclude<keyof Config, "apiKey">, [string, string]> = {
  model: ["model", "SPILLWAY_MODEL"],
  modelSha256: ["sha256", "SPILLWAY_MODEL_SHA256"],
  modelId: ["model-id", "SPILLWAY_MODEL_ID"],
  contextSize: ["context-size", "SPILLWAY_CONTEXT_SIZE"],
  parallel: ["parallel", "SPILLWAY_PARALLEL"],
  threads: ["threads", "SPILLWAY_THREADS"],
  batchSize: ["batch-size", "SPILLWAY_BATCH_SIZE"],
  maxQueue: ["max-queue", "SPILLWAY_MAX_QUEUE"],
  requestTimeoutSeconds: ["request-timeout", "SPILLWAY_REQUEST_TIMEOUT_SECONDS"],
  drainGraceSeconds: ["drain-grace", "SPILLWAY_DRAIN_GRACE_SECONDS"],
  port: ["port", "SPILLWAY_PORT"],
  host: ["host", "SPILLWAY_HOST"],
  cacheDir: ["cache-dir", "SPILLWAY_CACHE_DIR"],
  logLevel: ["log-level", "SPILLWAY_LOG_LEVEL"],
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function usage(): string {
  return (
    "usage: serve --model FILE_OR_URI [options]\n" +
    Object.entries(SOURCES)
      .map(([, [flag, env]]) => `  --${flag.padEnd(16)} ${env}`)
      .join("\n") +
    "\n  (api key)          SPILLWAY_API_KEY or SPILLWAY_API_KEY_FILE\n"
  );
}

/** Builds and validates the config; throws ConfigError naming the flag and variable at fault. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  if (argv.includes("--help") || argv.includes("-h")) throw new ConfigError(usage());
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.values(SOURCES).map(([flag]) => [flag, { type: "string" as const }]),
      ),
      strict: true,
    }).values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${usage()}`);
  }
  const raw: Record<string, unknown> = {};
  for (const [key, [flag, envName]] of Object.entries(SOURCES)) {
    const v = values[flag] ?? env[envName];
    if (v === undefined || v === "") continue;
    const schema = ConfigSchema.properties[key as keyof Config] as { type?: string };
    raw[key] = schema.type === "integer" && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  if (env.SPILLWAY_API_KEY) raw.apiKey = env.SPILLWAY_API_KEY;
  else if (env.SPILLWAY_API_KEY_FILE) {
    try {
      raw.apiKey = readFileSync(env.SPILLWAY_API_KEY_FILE, "utf8").trim();
    } catch (err) {
      throw new ConfigError(
        `SPILLWAY_API_KEY_FILE: cannot read ${env.SPILLWAY_API_KEY_FILE}: ${(err as Error).message}`,
      );
    }
  }
  const config = Value.Default(ConfigSchema, raw) as Config;
  const firstError = Value.Errors(ConfigSchema, config).First();
  if (firstError) {
    const key = firstError.path.replace(/^\//, "").split("/")[0] as keyof typeof SOURCES;
    const where = key in SOURCES ? `--${SOURCES[key][0]} / ${SOURCES[key][1]}` : key;
    const value =
      key === ("apiKey" as string)
        ? "(hidden)"
        : firstError.value === undefined
          ? "nothing"
          : JSON.stringify(firstError.value);
    throw new ConfigError(`invalid ${where}: ${firstError.message} (got ${value})`);
  }
  return config;
}
