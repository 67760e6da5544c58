import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import type { Hash } from "node:crypto";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ModelFailureReason } from "../api/server.js";

/**
 * Resolves a model URI to a verified local GGUF file. Remote models (https, s3, gs) are downloaded to a
 * temporary file, checked (length, GGUF magic, sha256 when given) and renamed into a cache keyed by URI
 * and digest, so a restart does not download again and a corrupt download is never loaded or cached.
 * A download that breaks off (a cut connection, a stall, a short body) is retried, resuming where it
 * stopped when the source honours a byte range; a full disk or a checksum mismatch fails at once.
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
    // One line: it becomes a log line and the pod's termination message (SDK messages span lines).
    super(message.replace(/\s*\n\s*/g, " "));
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
  /** A download that sends no byte for this long is broken off and retried (default 30 s). */
  stallMs?: number;
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

/** The remote object from a byte offset on. */
interface Remote {
  body: Readable;
  /** The body starts at the offset asked for; false when the source sent the whole object instead. */
  resumed: boolean;
  /** The object's full size, when the source says. */
  size?: number | undefined;
}

interface GcsResponse {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
}

/** `bytes a-b/total` (Content-Range) → start and total. */
function contentRange(header: string | null | undefined): { start: number; size?: number } | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header ?? "");
  if (!m) return undefined;
  return { start: Number(m[1]), ...(m[2] !== "*" ? { size: Number(m[2]) } : {}) };
}

/** Opens the remote object as a byte stream, from `offset` when the source honours ranges. */
async function openRemote(url: URL, env: NodeJS.ProcessEnv, offset: number): Promise<Remote> {
  switch (url.protocol) {
    case "http:":
    case "https:": {
      let res: Response;
      try {
        res = await fetch(url, offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {});
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
      const range = res.status === 206 ? contentRange(res.headers.get("content-range")) : undefined;
      const length = res.headers.get("content-length");
      return {
        body: Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>),
        resumed: range?.start === offset && offset > 0,
        size: range ? range.size : length !== null ? Number(length) : undefined,
      };
    }
    case "s3:": {
      const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-s3");
      const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
      const s3 = new S3Client({
        // One retry policy for every source: download() retries, resuming where the last attempt stopped.
        maxAttempts: 1,
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
        const out = await s3.send(
          new GetObjectCommand({
            Bucket: url.hostname,
            Key: url.pathname.slice(1),
            ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
          }),
        );
        const range = contentRange(out.ContentRange);
        return {
          body: out.Body as Readable,
          resumed: range?.start === offset && offset > 0,
          size: range ? range.size : out.ContentLength,
        };
      } catch (err) {
        const e = err as { name?: string; message: string; $metadata?: { httpStatusCode?: number } };
        const status = e.$metadata?.httpStatusCode ?? 0;
        throw new ModelSourceError(
          `s3 get ${url.href}: ${status ? `HTTP ${status}: ` : ""}${e.name ?? "error"}: ${e.message}`,
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
        () =>
          new Storage({
            retryOptions: { autoRetry: false },
            ...(emulator ? { apiEndpoint: emulator, projectId: "spillway" } : {}),
          }),
      );
      const file = storage.bucket(url.hostname).file(url.pathname.slice(1));
      const body = file.createReadStream({ validation: false, ...(offset > 0 ? { start: offset } : {}) });
      // The client asks for the range but does not check the answer; its response event has the status.
      // Errors (not found, auth) surface when the stream is piped; downloadInto() classifies them.
      const res = await new Promise<GcsResponse | undefined>((resolve) => {
        body.once("response", resolve);
        body.once("error", () => {
          resolve(undefined);
        });
        // The client sends its request on the first read.
        body.read(0);
      });
      const header = (name: string) => {
        const v = res?.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const range = res?.statusCode === 206 ? contentRange(header("content-range")) : undefined;
      const length = header("content-encoding") === "gzip" ? undefined : header("content-length");
      return {
        body,
        resumed: range?.start === offset && offset > 0,
        size: range ? range.size : length !== undefined ? Number(length) : undefined,
      };
    }
    default:
      throw new ModelSourceError(`unsupported model URI scheme '${url.protocol}'`);
  }
}

async function writeAll(file: FileHandle, chunk: Buffer): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    done += (await file.write(chunk, done)).bytesWritten;
  }
}

/** A client's own integrity check failed (the S3 SDK validates the object's CRC as it streams). */
function corrupted(err: unknown): boolean {
  return /checksum/i.test((err as Error).message);
}

/** Why an attempt failed, and whether another one may help. */
function failed(url: URL, partial: Partial, cacheDir: string, size: number | undefined, err: unknown) {
  if (err instanceof ModelSourceError) return err;
  const code = (err as { code?: unknown }).code;
  if (code === "ENOSPC") {
    return new ModelSourceError(
      `no space left in the model cache ${cacheDir} after ${partial.bytes} bytes of ${url.href}` +
        `${size ? ` (${size} bytes)` : ""}: enlarge the cache volume or free space`,
    );
  }
  // Client libraries put the HTTP status in `code` (GCS): 4xx other than 408/429 is final.
  const status = typeof code === "number" ? code : undefined;
  const final = status !== undefined && status >= 400 && status < 500 && !isTransientStatus(status);
  const what = `${status !== undefined ? `HTTP ${status}: ` : ""}${(err as Error).message}`;
  return new ModelSourceError(
    final
      ? `get ${url.href}: ${what}`
      : `download ${url.href} interrupted after ${partial.bytes} bytes: ${what}`,
    !final,
    code === 404 ? "ModelNotFound" : "ModelDownloadFailed",
  );
}

/** A download in progress: the partial file, and the hash and length of what it holds. */
interface Partial {
  path: string;
  hash: Hash;
  bytes: number;
}

/** One attempt: appends to the partial file from where it stands (or from 0 if the source will not resume). */
async function downloadInto(url: URL, partial: Partial, opts: ResolveOptions): Promise<void> {
  const remote = await openRemote(url, opts.env ?? process.env, partial.bytes);
  // The connection can break before the pipeline below listens (the file is opened first): an 'error'
  // with no listener would be an uncaught exception. The pipeline still gets the error from the stream.
  remote.body.on("error", () => undefined);
  if (partial.bytes > 0 && !remote.resumed) {
    partial.hash = createHash("sha256");
    partial.bytes = 0;
  }
  const stallMs = opts.stallMs ?? 30_000;
  const stall = setTimeout(() => {
    remote.body.destroy(new Error(`stalled: no data for ${stallMs / 1000}s`));
  }, stallMs);
  const file = await open(partial.path, partial.bytes > 0 ? "a" : "w");
  // The hash and length count a chunk once it is written, so that a resume starts where the file ends.
  let writing = Promise.resolve();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      stall.refresh();
      writing = writeAll(file, chunk).then(() => {
        partial.hash.update(chunk);
        partial.bytes += chunk.length;
      });
      writing.then(() => {
        cb();
      }, cb);
    },
  });
  let failure: unknown;
  try {
    await pipeline(remote.body, sink);
  } catch (err) {
    failure = err;
  } finally {
    clearTimeout(stall);
    // A write still under way when the body failed must land before the next attempt reads the length.
    await writing.catch(() => undefined);
    await file.close();
  }
  if (failure !== undefined) {
    const error = failed(url, partial, opts.cacheDir, remote.size, failure);
    if (corrupted(failure)) {
      // The client checked the transfer and found it corrupt: what was written cannot be resumed.
      partial.hash = createHash("sha256");
      partial.bytes = 0;
    }
    throw error;
  }
  if (remote.size !== undefined && partial.bytes !== remote.size) {
    throw new ModelSourceError(
      `download ${url.href} truncated: got ${partial.bytes} of ${remote.size} bytes`,
      partial.bytes < remote.size,
    );
  }
}

/** Downloads with retries into `dest`; only a complete, verified file is renamed there. */
async function download(url: URL, dest: string, opts: ResolveOptions): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const partial: Partial = {
    path: `${dest}.partial-${process.pid}-${randomBytes(4).toString("hex")}`,
    hash: createHash("sha256"),
    bytes: 0,
  };
  const attempts = opts.attempts ?? 5;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await downloadInto(url, partial, opts);
        break;
      } catch (err) {
        const e = err instanceof ModelSourceError ? err : new ModelSourceError(String(err), true);
        if (!e.retryable || attempt >= attempts) throw e;
        const delay = (opts.backoffMs ?? 500) * 2 ** (attempt - 1);
        log("model download failed; retrying", {
          uri: url.href,
          attempt,
          delayMs: delay,
          resumeAt: partial.bytes,
          error: e.message,
        });
        await sleep(delay);
      }
    }
    const digest = partial.hash.digest("hex");
    if (opts.sha256 && digest !== opts.sha256) {
      throw new ModelSourceError(
        `checksum mismatch for ${url.href}: expected sha256 ${opts.sha256}, got ${digest}`,
        false,
        "ModelChecksumMismatch",
      );
    }
    await assertGguf(partial.path, url.href);
    await rename(partial.path, dest);
    return digest;
  } finally {
    await rm(partial.path, { force: true });
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

  const started = Date.now();
  const digest = await download(url, dest, opts);
  log("model downloaded", { uri, path: dest, sha256: digest, ms: Date.now() - started });
  return { path: dest, sha256: digest, source: "download" };
}
