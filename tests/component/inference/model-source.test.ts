import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelSourceError, resolveModel } from "../../../src/inference/model-source.js";
import { fixtureModel } from "../../helpers/fixture-model.js";

// Model fetching over real HTTP on loopback; S3 and GCS are in the localstack tier.
const model = readFileSync(fixtureModel());
const digest = createHash("sha256").update(model).digest("hex");
let http: Server;
let base: string;
const hits: Record<string, number> = {};
let failuresLeft = 0;
let resetsLeft = 0;

beforeAll(async () => {
  http = createServer((req, res) => {
    const path = req.url ?? "/";
    hits[path] = (hits[path] ?? 0) + 1;
    if (path === "/flaky.gguf" && failuresLeft > 0) {
      failuresLeft--;
      res.writeHead(503).end();
    } else if (path === "/reset.gguf" && resetsLeft > 0) {
      // Headers, then the connection dies before any byte of the body: the fetcher is between the
      // response and its pipeline.
      resetsLeft--;
      res.writeHead(200, { "content-length": model.length });
      res.flushHeaders();
      setImmediate(() => res.socket?.resetAndDestroy());
    } else if (path === "/missing.gguf") res.writeHead(404).end();
    else if (path === "/not-gguf.gguf") res.end("<html>login page</html>");
    else res.end(model);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const addr = http.address();
  base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});
afterAll(() => {
  http.close();
});

const cache = () => mkdtempSync(join(tmpdir(), "spillway-models-"));

describe("model sources", () => {
  it("uses a local path and file:// URI in place, verifying a pinned sha256", async () => {
    const path = fixtureModel();
    expect(await resolveModel(path, { cacheDir: cache() })).toEqual({ path, source: "local" });
    expect(await resolveModel(`file://${path}`, { cacheDir: cache(), sha256: digest })).toEqual({
      path,
      sha256: digest,
      source: "local",
    });
    await expect(resolveModel(path, { cacheDir: cache(), sha256: "f".repeat(64) })).rejects.toThrow(
      /checksum mismatch/,
    );
  });

  it("downloads over http(s) into the cache, then serves restarts from the cache", async () => {
    const dir = cache();
    const first = await resolveModel(`${base}/good.gguf`, { cacheDir: dir, sha256: digest });
    expect(first).toMatchObject({ source: "download", sha256: digest });
    expect(readFileSync(first.path).equals(model)).toBe(true);
    const again = await resolveModel(`${base}/good.gguf`, { cacheDir: dir, sha256: digest });
    expect(again).toMatchObject({ source: "cache", path: first.path });
    expect(hits["/good.gguf"]).toBe(1);
  });

  it("retries transient failures with backoff", async () => {
    failuresLeft = 2;
    const r = await resolveModel(`${base}/flaky.gguf`, { cacheDir: cache(), backoffMs: 10 });
    expect(r.source).toBe("download");
    expect(hits["/flaky.gguf"]).toBe(3);
  });

  it("deletes a download whose checksum does not match and never caches it", async () => {
    const dir = cache();
    await expect(
      resolveModel(`${base}/good.gguf`, { cacheDir: dir, sha256: "0".repeat(64) }),
    ).rejects.toThrow(/checksum mismatch .* expected sha256 0{64}, got [0-9a-f]{64}/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses a download that is not a GGUF file", async () => {
    const dir = cache();
    await expect(resolveModel(`${base}/not-gguf.gguf`, { cacheDir: dir })).rejects.toThrow(/not a GGUF file/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("does not retry a 404", async () => {
    const err = await resolveModel(`${base}/missing.gguf`, { cacheDir: cache(), backoffMs: 10 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(String(err)).toMatch(/HTTP 404/);
    expect(hits["/missing.gguf"]).toBe(1);
  });

  it("a connection reset right after the headers is retried, not an uncaught exception", async () => {
    resetsLeft = 3;
    const r = await resolveModel(`${base}/reset.gguf`, { cacheDir: cache(), sha256: digest, backoffMs: 10 });
    expect(r).toMatchObject({ source: "download", sha256: digest });
    expect(hits["/reset.gguf"]).toBe(4);
  });

  it("re-downloads a cached file that no longer matches its checksum", async () => {
    const dir = cache();
    const first = await resolveModel(`${base}/again.gguf`, { cacheDir: dir, sha256: digest });
    writeFileSync(first.path, "GGUF corrupted on disk");
    const second = await resolveModel(`${base}/again.gguf`, { cacheDir: dir, sha256: digest });
    expect(second.source).toBe("download");
    expect(readFileSync(second.path).equals(model)).toBe(true);
  });

  it("rejects unknown URI schemes", async () => {
    await expect(resolveModel("ftp://host/m.gguf", { cacheDir: cache() })).rejects.toThrow(
      /unsupported model URI scheme 'ftp:'/,
    );
  });
});
