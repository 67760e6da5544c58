import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ModelFailureReason } from "../api/server.js";

/**
 * Resolves a model URI to a verified local GGUF file. Remote models (https, s3, gs) are downloaded to a
 * temporary file, checked (GGUF magic, sha256 when given) and renamed into a cache keyed by URI and
 * digest, so a restart does not download again and a corrupt download is never loaded or cached.
 */
export class ModelSourceError extends Error {
  override name = "ModelSourceError";
  constructor(
    message: string,
    /** Transient failures (network, 5xx, throttling) are retried; the rest fail at once. */
    readonly retryable = false,
    /** What the pod's status will say (src/api/server.ts). */
    readonly reason: ModelFailureReason = "ModelDownloadFailed",
  ) {
    super(message);
  }
}

export interface ResolvedModel {
  path: string;
  /** sha256 of the file, when it was computed (always for downloads, for local files when pinned). */
  sha256?: string;
  source: "local" | "cache" | "download";
}

export interface ResolveOptions {
  cacheDir: string;
  sha256?: string | undefined;
  attempts?: number;
  backoffMs?: number;
  env?: NodeJS.ProcessEnv;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

const SCHEMES = ["file:", "https:", "http:", "s3:", "gs:"];

export function cacheKey(uri: string, sha256?: string): string {
  return createHash("sha256")
    .update(`${uri}\n${sha256 ?? ""}`)
    .digest("hex")
    .slice(0, 32);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

async function assertGguf(path: string, what: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    if (bytesRead < 4 || buffer.toString("latin1") !== "GGUF") {
      throw new ModelSourceError(`${what} is not a GGUF file (bad magic bytes)`, false, "ModelInvalid");
    }
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * The Node GCS client takes STORAGE_EMULATOR_HOST from process.env as its API base URL verbatim, while
 * fake-gcs-server and the Go and Python clients give just the host. We pass the endpoint explicitly
 * (either form accepted) and hide the variable from the client while it is constructed.
 */
function withoutEmulatorVariable<T>(make: () => T): T {
  const saved = process.env.STORAGE_EMULATOR_HOST;
  delete process.env.STORAGE_EMULATOR_HOST;
  try {
    return make();
  } finally {
    if (saved !== undefined) process.env.STORAGE_EMULATOR_HOST = saved;
  }
}

/** Opens the remote object as a byte stream. */
async function openRemote(url: URL, env: NodeJS.ProcessEnv): Promise<Readable> {
  switch (url.protocol) {
    case "http:":
    case "https:": {
      let res: Response;
      try {
        res = await fetch(url);
      } catch (err) {
        throw new ModelSourceError(`fetch ${url.href}: ${(err as Error).message}`, true);
      }
      if (!res.ok || !res.body) {
        throw new ModelSourceError(
          `GET ${url.href}: HTTP ${res.status}`,
          isTransientStatus(res.status),
          res.status === 404 ? "ModelNotFound" : "ModelDownloadFailed",
        );
      }
      return Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
    }
    case "s3:": {
      const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-s3");
      const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
      const s3 = new S3Client({
        region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
        ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
        // Static keys from the given environment; otherwise the SDK's chain (web identity, instance role).
        ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? {
              credentials: {
                accessKeyId: env.AWS_ACCESS_KEY_ID,
                secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
                ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
              },
            }
          : {}),
      });
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: url.hostname, Key: url.pathname.slice(1) }));
        return out.Body as Readable;
      } catch (err) {
        const e = err as { name?: string; message: string; $metadata?: { httpStatusCode?: number } };
        const status = e.$metadata?.httpStatusCode ?? 0;
        throw new ModelSourceError(
          `s3 get ${url.href}: ${e.name ?? "error"}: ${e.message}`,
          status === 0 || isTransientStatus(status),
          status === 404 ? "ModelNotFound" : "ModelDownloadFailed",
        );
      }
    }
    case "gs:": {
      const { Storage } = await import("@google-cloud/storage");
      // Read before hiding the variable: `env` is usually process.env itself.
      const emulator = env.STORAGE_EMULATOR_HOST?.replace(/\/storage\/v1\/?$/, "");
      const storage = withoutEmulatorVariable(
        () => new Storage(emulator ? { apiEndpoint: emulator, projectId: "spillway" } : {}),
      );
      // Errors (not found, auth) surface when the stream is piped; download() classifies them.
      return storage.bucket(url.hostname).file(url.pathname.slice(1)).createReadStream({ validation: false });
    }
    default:
      throw new ModelSourceError(`unsupported model URI scheme '${url.protocol}'`);
  }
}

async function download(url: URL, dest: string, opts: ResolveOptions): Promise<string> {
  const tmp = `${dest}.partial-${process.pid}-${randomBytes(4).toString("hex")}`;
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    const body = await openRemote(url, opts.env ?? process.env);
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, tap, createWriteStream(tmp, { flags: "wx" }));
    } catch (err) {
      if (err instanceof ModelSourceError) throw err;
      // Client libraries put the HTTP status in `code` (GCS): 4xx other than 408/429 is final.
      const status = (err as { code?: unknown }).code;
      const final = typeof status === "number" && status >= 400 && status < 500 && !isTransientStatus(status);
      throw new ModelSourceError(
        final
          ? `get ${url.href}: HTTP ${status}: ${(err as Error).message}`
          : `download ${url.href} interrupted after ${bytes} bytes: ${(err as Error).message}`,
        !final,
        status === 404 ? "ModelNotFound" : "ModelDownloadFailed",
      );
    }
    const digest = hash.digest("hex");
    if (opts.sha256 && digest !== opts.sha256) {
      throw new ModelSourceError(
        `checksum mismatch for ${url.href}: expected sha256 ${opts.sha256}, got ${digest}`,
        false,
        "ModelChecksumMismatch",
      );
    }
    await assertGguf(tmp, url.href);
    await rename(tmp, dest);
    return digest;
  } finally {
    await rm(tmp, { force: true });
  }
}

export async function resolveModel(uri: string, opts: ResolveOptions): Promise<ResolvedModel> {
  const log = opts.log ?? (() => undefined);
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri);
  const url = hasScheme ? new URL(uri) : undefined;
  if (url && !SCHEMES.includes(url.protocol)) {
    throw new ModelSourceError(
      `unsupported model URI scheme '${url.protocol}' in ${uri} (use a path, file://, https://, s3:// or gs://)`,
    );
  }

  if (!url || url.protocol === "file:") {
    const path = url ? fileURLToPath(url) : uri;
    if (!(await exists(path))) {
      throw new ModelSourceError(`model file ${path} does not exist`, false, "ModelNotFound");
    }
    await assertGguf(path, path);
    if (!opts.sha256) return { path, source: "local" };
    const digest = await sha256File(path);
    if (digest !== opts.sha256) {
      throw new ModelSourceError(
        `checksum mismatch for ${path}: expected sha256 ${opts.sha256}, got ${digest}`,
        false,
        "ModelChecksumMismatch",
      );
    }
    return { path, sha256: digest, source: "local" };
  }

  await mkdir(opts.cacheDir, { recursive: true });
  const dest = join(opts.cacheDir, `${cacheKey(uri, opts.sha256)}.gguf`);
  if (await exists(dest)) {
    // Only verified files are renamed into the cache; re-hash when pinned to catch disk corruption.
    const digest = opts.sha256 ? await sha256File(dest) : undefined;
    if (!opts.sha256 || digest === opts.sha256) {
      log("model found in cache", { uri, path: dest });
      return { path: dest, ...(digest ? { sha256: digest } : {}), source: "cache" };
    }
    log("cached model failed its checksum; downloading again", { uri, path: dest });
    await rm(dest, { force: true });
  }

  const attempts = opts.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    try {
      const started = Date.now();
      const digest = await download(url, dest, opts);
      log("model downloaded", { uri, path: dest, sha256: digest, ms: Date.now() - started });
      return { path: dest, sha256: digest, source: "download" };
    } catch (err) {
      const e = err instanceof ModelSourceError ? err : new ModelSourceError(String(err), true);
      if (!e.retryable || attempt >= attempts) throw e;
      const delay = (opts.backoffMs ?? 250) * 2 ** (attempt - 1);
      log("model download failed; retrying", { uri, attempt, delayMs: delay, error: e.message });
      await sleep(delay);
    }
  }
}
