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

  /**
   * Readiness turns 503; requests that still arrive are served, queued ones too. They come on connections
   * a client opened before the endpoints dropped this pod (its keep-alive pool), and the server closes
   * each connection after its answer (server.ts), so they dwindle to none within the grace period;
   * refusing them would fail requests the client had no other replica to send to.
   */
  drain(): void {
    this.state = "draining";
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
    };
  }

  /** The engine for a request naming `model`; 503 before it is loaded, 404 for another model's name. */
  engineFor(model: string): ServedEngine {
    if (!this.current || (this.state !== "ready" && this.state !== "draining")) {
      throw errors.notReady("The model is not loaded yet.");
    }
    if (!this.serves(model)) throw errors.modelNotFound(model);
    return this.current;
  }

  get activeRequests(): number {
    return this.inFlight;
  }
}
