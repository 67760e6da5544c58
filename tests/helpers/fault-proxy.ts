import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/**
 * A reverse proxy on loopback that breaks downloads on purpose: the model-download chaos tests put it
 * between the server and an emulated bucket or an http source. Faults are queued and each one applies to
 * the next download request (a GET whose path names a .gguf); everything else passes through untouched.
 */
export type Fault =
  /** Send this many body bytes, then reset the connection. */
  | { kind: "cut"; afterBytes: number }
  /** Send this many body bytes, then nothing, holding the connection open. */
  | { kind: "stall"; afterBytes: number }
  /** Keep the full Content-Length but send only this many bytes, then close cleanly. */
  | { kind: "truncate"; afterBytes: number }
  /** Answer with this status and no body. */
  | { kind: "status"; status: number }
  /** Flip one byte of the body. */
  | { kind: "corrupt"; atByte: number };

export interface Seen {
  range: string | undefined;
  fault: Fault["kind"] | undefined;
  status: number;
  /** Body bytes sent to the client. */
  bytes: number;
}

export class FaultProxy {
  /** Every download request, in order. */
  readonly downloads: Seen[] = [];
  private readonly faults: Fault[] = [];
  private readonly held = new Set<ServerResponse>();
  private server: Server | undefined;

  constructor(private readonly target: string) {}

  /** Queues faults for the next download requests, one each. */
  queue(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  /** Forgets queued faults and recorded downloads. */
  reset(): void {
    this.faults.length = 0;
    this.downloads.length = 0;
  }

  /** Listens on loopback, on `port` or a free one; returns the base URL. */
  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      this.forward(req, res);
    });
    await new Promise<void>((resolve) => this.server?.listen(port, "127.0.0.1", resolve));
    const addr = this.server.address();
    if (addr === null || typeof addr === "string") throw new Error("no address");
    return `http://127.0.0.1:${addr.port}`;
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server?.closeAllConnections();
    const server = this.server;
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const download = req.method === "GET" && /\.gguf/.test(req.url ?? "");
    const fault = download ? this.faults.shift() : undefined;
    const target = new URL(req.url ?? "/", this.target);
    const seen: Seen = { range: req.headers.range, fault: fault?.kind, status: 0, bytes: 0 };
    if (download) this.downloads.push(seen);
    if (fault?.kind === "status") {
      seen.status = fault.status;
      res.writeHead(fault.status, { "content-type": "text/plain" }).end("injected fault");
      return;
    }
    const upstream = request(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        seen.status = up.statusCode ?? 0;
        const headers = { ...up.headers, ...(fault?.kind === "truncate" ? { connection: "close" } : {}) };
        res.writeHead(up.statusCode ?? 502, headers);
        if (!fault) {
          up.on("data", (chunk: Buffer) => (seen.bytes += chunk.length));
          up.pipe(res);
          return;
        }
        const limit = fault.kind === "corrupt" ? Infinity : fault.afterBytes;
        let sent = 0;
        up.on("data", (chunk: Buffer) => {
          if (sent >= limit) return;
          let out = chunk.subarray(0, Math.min(chunk.length, limit - sent));
          if (fault.kind === "corrupt" && fault.atByte >= sent && fault.atByte < sent + out.length) {
            out = Buffer.from(out);
            out[fault.atByte - sent] = (out[fault.atByte - sent] ?? 0) ^ 0xff;
          }
          sent += out.length;
          seen.bytes = sent;
          res.write(out);
          if (sent < limit) return;
          up.destroy();
          // A reset drops what the client has not read yet: let the bytes arrive first, as when a
          // connection dies after data has flowed.
          if (fault.kind === "cut") setTimeout(() => res.socket?.resetAndDestroy(), 100);
          else if (fault.kind === "truncate") res.socket?.end();
          else this.held.add(res);
        });
        up.on("end", () => {
          if (sent < limit || fault.kind === "corrupt") res.end();
        });
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  }
}

/** An http source for a blob that honours `Range: bytes=N-`, as object stores and CDNs do. */
export async function rangeServer(blob: Buffer, path: string): Promise<{ url: string; close: () => void }> {
  const server = createServer((req, res) => {
    if (req.url !== path) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = m ? Number(m[1]) : 0;
    const headers = { "content-type": "application/octet-stream", "accept-ranges": "bytes" };
    if (m) {
      res.writeHead(206, {
        ...headers,
        "content-length": blob.length - start,
        "content-range": `bytes ${start}-${blob.length - 1}/${blob.length}`,
      });
    } else res.writeHead(200, { ...headers, "content-length": blob.length });
    res.end(blob.subarray(start));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  return {
    url: `http://127.0.0.1:${addr.port}${path}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
