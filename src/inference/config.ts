import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { SERVER_ENV, SERVER_PORT } from "../api/server.js";

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
  /** Other names requests may use for the model, comma-separated; `*` accepts any name. */
  servedModelNames: Type.Optional(Type.String({ pattern: "^[^,\\s]+(,[^,\\s]+)*$", maxLength: 4096 })),
  contextSize: Int(16, 1 << 20, 2048),
  parallel: Int(1, 256, 4),
  /** 0 = choose by the work (see threads.ts). */
  threads: Int(0, 1024, 0),
  batchSize: Int(1, 1 << 16, 512),
  maxQueue: Int(0, 100_000, 64),
  requestTimeoutSeconds: Int(1, 86_400, 300),
  drainGraceSeconds: Int(0, 3600, 30),
  /** A connection older than this closes after its next answer, so new replicas get a share (server.ts). */
  maxConnectionAgeSeconds: Int(1, 86_400, 5),
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
const FLAGS: Record<Exclude<keyof Config, "apiKey">, string> = {
  model: "model",
  modelSha256: "sha256",
  modelId: "model-id",
  servedModelNames: "served-model-names",
  contextSize: "context-size",
  parallel: "parallel",
  threads: "threads",
  batchSize: "batch-size",
  maxQueue: "max-queue",
  requestTimeoutSeconds: "request-timeout",
  drainGraceSeconds: "drain-grace",
  maxConnectionAgeSeconds: "max-connection-age",
  port: "port",
  host: "host",
  cacheDir: "cache-dir",
  logLevel: "log-level",
};
const SOURCES = Object.fromEntries(
  Object.entries(FLAGS).map(([key, flag]) => [key, [flag, SERVER_ENV[key as keyof typeof FLAGS]]]),
) as Record<keyof typeof FLAGS, [string, string]>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function usage(): string {
  return (
    "usage: serve --model FILE_OR_URI [options]\n" +
    Object.entries(SOURCES)
      .map(([, [flag, env]]) => `  --${flag.padEnd(16)} ${env}`)
      .join("\n") +
    `\n  (api key)          ${SERVER_ENV.apiKey} or ${SERVER_ENV.apiKeyFile}\n`
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
  const keyFile = env[SERVER_ENV.apiKeyFile];
  if (env[SERVER_ENV.apiKey]) raw.apiKey = env[SERVER_ENV.apiKey];
  else if (keyFile) {
    try {
      raw.apiKey = readFileSync(keyFile, "utf8").trim();
    } catch (err) {
      throw new ConfigError(`${SERVER_ENV.apiKeyFile}: cannot read ${keyFile}: ${(err as Error).message}`);
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
