import type { ServedEngine } from "./engine.js";
import { errors } from "./errors.js";
import type { Metrics } from "./metrics.js";

export type Phase = "loading" | "ready" | "draining" | "failed";

/**
 * What the routes need to know about the server's life: the engine once loaded, the phase (readiness),
 * and the requests in flight (for drain). server.ts moves it through its phases with the methods below;
 * routes only read it.
 */
export class Runtime {
  private current: ServedEngine | undefined;
  private state: Phase = "loading";
  private digest: string | undefined;
  readonly created = Math.floor(Date.now() / 1000);
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  private readonly names: ReadonlySet<string>;

  /** `aliases`: other names requests may use for the model; "*" among them accepts any name. */
  constructor(
    readonly modelId: string,
    readonly metrics: Metrics,
    aliases: readonly string[] = [],
  ) {
    this.names = new Set([modelId, ...aliases]);
  }

  get phase(): Phase {
    return this.state;
  }

  /** The loaded engine, for what describes it (the model list, /metrics); requests use engineFor. */
  get engine(): ServedEngine | undefined {
    return this.current;
  }

  /** The sha256 of the loaded model file, when it was computed. */
  get modelDigest(): string | undefined {
    return this.digest;
  }

  /** The model is loaded and warm: requests are served (unless a drain began meanwhile). */
  ready(engine: ServedEngine, digest: string | undefined): void {
    this.current = engine;
    this.digest = digest;
    if (this.state === "loading") this.state = "ready";
  }

  failed(): void {
    this.state = "failed";
  }

  /** Readiness turns 503 and queued requests are refused; requests in flight go on. */
  drain(): void {
    this.state = "draining";
    this.current?.slots.close("The server is draining; retry on another replica.");
  }

  /** Whether a request naming `model` is for this server's model. */
  serves(model: string): boolean {
    return this.names.has(model) || this.names.has("*");
  }

  /** Marks a request as started; the returned function marks it done (idempotent). */
  track(): () => void {
    this.inFlight++;
    this.metrics.inFlight.set(this.inFlight);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      this.metrics.inFlight.set(this.inFlight);
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  /** The engine for a request naming `model`; 503 while not ready, 404 for another model's name. */
  engineFor(model: string): ServedEngine {
    if (this.state !== "ready" || !this.current) {
      throw errors.notReady(
        this.state === "draining"
          ? "The server is draining; retry on another replica."
          : "The model is not loaded yet.",
      );
    }
    if (!this.serves(model)) throw errors.modelNotFound(model);
    return this.current;
  }

  get activeRequests(): number {
    return this.inFlight;
  }

  /** Resolves when no request is in flight, or after `timeoutMs`; true when idle. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolvePromise) => {
      const timer = setTimeout(() => {
        resolvePromise(false);
      }, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolvePromise(true);
      });
    });
  }
}
