import type { Socket } from "node:net";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Fastify, { type FastifyInstance } from "fastify";
import { app } from "./app.js";
import type { Config } from "./config.js";
import { Engine } from "./engine.js";
import { createMetrics } from "./metrics.js";
import { resolveModel } from "./model-source.js";
import { Runtime } from "./runtime.js";

export interface Server {
  fastify: FastifyInstance;
  runtime: Runtime;
  /** The engine once loaded (tests reach the model through it). */
  readonly engine: Engine | undefined;
  /** Fetches, loads and warms the model; /ready turns 200 when it resolves. Rejects on failure. */
  load(): Promise<void>;
  /** /ready → 503, new and queued requests → 503, in-flight ones finish (up to the grace period). */
  drain(): Promise<{ drained: boolean }>;
  close(): Promise<void>;
}

export function modelIdFor(config: Pick<Config, "model" | "modelId">): string {
  if (config.modelId) return config.modelId;
  const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(config.model) ? new URL(config.model).pathname : config.model;
  return basename(path).replace(/\.gguf$/i, "") || "model";
}

const KEEP_ALIVE_SECONDS = 5;

/** Builds the fastify instance with the app registered; the model is loaded by `load()`. */
export async function createServer(config: Config): Promise<Server> {
  const fastify = Fastify({
    logger: { level: config.logLevel },
    // Prompts beyond the context are refused by token count; this only bounds what is parsed.
    bodyLimit: 4 * 1024 * 1024,
    // Clients drop an idle connection shortly before this (undici at 1 s before the Keep-Alive hint), so
    // the server never closes one a request is being written to, and a drain's idle connections are gone
    // within it.
    keepAliveTimeout: KEEP_ALIVE_SECONDS * 1000,
    // OpenAI rejects wrong types; Ajv's default coercion would turn 7 into "7" and [""] into null.
    ajv: { customOptions: { coerceTypes: false } },
  });
  const metrics = createMetrics();
  const runtime = new Runtime(modelIdFor(config), metrics, config.servedModelNames?.split(",") ?? []);
  // A connection's answer closes it while draining, and once it is older than --max-connection-age:
  // the client's next connection goes through the Service again, to a replica that is not going away, or
  // to a burst replica that joined since. A client's keep-alive pool would otherwise keep every request
  // on the replicas that served its first ones, and the spill-over would never see them.
  const opened = new WeakMap<Socket, number>();
  fastify.server.on("connection", (socket: Socket) => opened.set(socket, Date.now()));
  fastify.addHook("onRequest", (request, reply, next) => {
    const age = Date.now() - (opened.get(request.raw.socket) ?? Date.now());
    if (runtime.phase === "draining" || age > config.maxConnectionAgeSeconds * 1000)
      reply.raw.setHeader("connection", "close");
    next();
  });
  await fastify.register(app, {
    runtime,
    apiKey: config.apiKey,
    requestTimeoutSeconds: config.requestTimeoutSeconds,
  });
  const log = fastify.log;
  let engine: Engine | undefined;

  const load = async () => {
    const started = performance.now();
    try {
      const resolved = await resolveModel(config.model, {
        cacheDir: config.cacheDir,
        sha256: config.modelSha256,
        log: (msg, fields) => {
          log.info(fields ?? {}, msg);
        },
      });
      const loaded = await Engine.load({
        modelPath: resolved.path,
        contextSize: config.contextSize,
        parallel: config.parallel,
        threads: config.threads,
        batchSize: config.batchSize,
        maxQueue: config.maxQueue,
        log: (level, msg, fields) => {
          log[level](fields ?? {}, msg);
        },
      });
      engine = loaded;
      // Warm-up: one short generation, so the first user request does not pay for first-use costs.
      const slot = await loaded.slots.acquire();
      try {
        await loaded.generate(
          slot,
          await loaded.prepare({ kind: "text", text: "warm up" }, { maxTokens: 2, temperature: 0, stop: [] }),
        );
      } finally {
        loaded.slots.release(slot);
      }
      runtime.ready(loaded, resolved.sha256);
      const seconds = (performance.now() - started) / 1000;
      metrics.modelLoadSeconds.set(seconds);
      if (resolved.sha256) metrics.modelInfo.set({ sha256: resolved.sha256 }, 1);
      log.info(
        { model: runtime.modelId, seconds: Number(seconds.toFixed(3)), threads: loaded.threads },
        "model ready",
      );
    } catch (err) {
      runtime.failed();
      throw err;
    }
  };

  const openConnections = () =>
    new Promise<number>((resolve) => {
      fastify.server.getConnections((err, n) => {
        resolve(err ? 0 : n);
      });
    });

  // Drained: every connection has ended, each after the answer it was carrying or idle past the keep-alive
  // (clients drop idle ones first), or the grace period is up. The listener stays open meanwhile: Node's
  // server.close() would cut idle connections a client may be writing a request to at that moment.
  const drain = async () => {
    runtime.drain();
    const deadline = Date.now() + config.drainGraceSeconds * 1000;
    while ((await openConnections()) > 0 && Date.now() < deadline) await sleep(100);
    const drained = (await openConnections()) === 0;
    log.info({ drained, abandoned: runtime.activeRequests }, "drain finished");
    return { drained };
  };

  const close = async () => {
    // After a drain that ran out of time, connections may still be open: end them.
    fastify.server.closeAllConnections();
    await fastify.close();
    await engine?.close();
  };

  return {
    fastify,
    runtime,
    get engine() {
      return engine;
    },
    load,
    drain,
    close,
  };
}
