import { setTimeout as sleep } from "node:timers/promises";
import { isOk, type RequestKind, type Sample } from "./report.js";

/**
 * A bounded load generator for an OpenAI-compatible endpoint: `users` simulated users start evenly over
 * the ramp, each sends a request, waits for the whole answer, thinks, and sends the next. The mix cycles
 * chat and completion, streamed and not. No request starts after `durationSeconds` or beyond
 * `maxRequests`, and every request has its own timeout, so a run always ends by itself.
 */

export interface LoadOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 (the /v1 paths are added). */
  url: string;
  model: string;
  users: number;
  rampSeconds: number;
  durationSeconds: number;
  maxRequests: number;
  thinkMs: number;
  maxTokens: number;
  timeoutMs: number;
  apiKey?: string;
  /** Share of streamed requests the client abandons after the first text, as impatient users do. */
  cancelRatio?: number;
}

const MIX: readonly [{ kind: RequestKind; stream: boolean }, ...{ kind: RequestKind; stream: boolean }[]] = [
  { kind: "chat", stream: true },
  { kind: "completion", stream: false },
  { kind: "chat", stream: false },
  { kind: "completion", stream: true },
];

const ERROR_BACKOFF_MS = 250;

const TOPICS = [
  "spot capacity",
  "a base layer",
  "model caching",
  "queue depth",
  "drain windows",
  "GGUF files",
];

function body(o: LoadOptions, i: number, kind: RequestKind, stream: boolean): Record<string, unknown> {
  const text = `Request ${i}: say something short about ${TOPICS[i % TOPICS.length]}.`;
  return {
    model: o.model,
    max_tokens: o.maxTokens,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    ...(kind === "chat" ? { messages: [{ role: "user", content: text }] } : { prompt: text }),
  };
}

interface Chunk {
  choices?: { text?: string; delta?: { content?: string } }[];
  usage?: { completion_tokens?: number };
  error?: unknown;
}

/** Reads an SSE stream to its end: time to the first text, tokens (usage, else text chunks), errors. */
async function readStream(
  res: Response,
  t0: number,
  cancelAfterFirstText: boolean,
): Promise<{ ttftMs?: number; tokens: number; error: boolean; cancelled: boolean }> {
  let ttftMs: number | undefined;
  let textChunks = 0;
  let usage: number | undefined;
  let error = false;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(part, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data) as Chunk;
      if (chunk.error) error = true;
      const text = chunk.choices?.[0]?.delta?.content ?? chunk.choices?.[0]?.text ?? "";
      if (text) {
        textChunks++;
        ttftMs ??= performance.now() - t0;
        // Leaving the loop cancels the stream: the connection closes as when a user goes away.
        if (cancelAfterFirstText) return { ttftMs, tokens: 0, error: false, cancelled: true };
      }
      if (chunk.usage?.completion_tokens !== undefined) usage = chunk.usage.completion_tokens;
    }
  }
  return { ttftMs, tokens: usage ?? textChunks, error, cancelled: false };
}

/** Spreads cancellations evenly over the run (golden-ratio sequence), the same in every run. */
const cancels = (i: number, ratio: number) => ratio > 0 && (i * 0.6180339887) % 1 < ratio;

async function send(o: LoadOptions, i: number): Promise<Sample> {
  const { kind, stream } = MIX[i % MIX.length] ?? MIX[0];
  const path = kind === "chat" ? "/v1/chat/completions" : "/v1/completions";
  const t0 = performance.now();
  const done = (rest: Omit<Sample, "kind" | "stream" | "latencyMs">): Sample => ({
    kind,
    stream,
    latencyMs: performance.now() - t0,
    ...rest,
  });
  try {
    const res = await fetch(`${o.url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}),
      },
      body: JSON.stringify(body(o, i, kind, stream)),
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      return done({ outcome: res.status, tokens: 0 });
    }
    if (stream) {
      const r = await readStream(res, t0, cancels(i, o.cancelRatio ?? 0));
      if (r.cancelled) return done({ outcome: "cancelled", tokens: 0 });
      return r.error
        ? done({ outcome: "stream_error", tokens: 0 })
        : done({
            outcome: res.status,
            tokens: r.tokens,
            ...(r.ttftMs === undefined ? {} : { ttftMs: r.ttftMs }),
          });
    }
    const json = (await res.json()) as Chunk;
    return done({ outcome: res.status, tokens: json.usage?.completion_tokens ?? 0 });
  } catch (err) {
    const name = (err as Error).name;
    return done({
      outcome: name === "TimeoutError" || name === "AbortError" ? "timeout" : "network",
      tokens: 0,
    });
  }
}

export interface Progress {
  samples: readonly Sample[];
  elapsedSeconds: number;
  activeUsers: number;
}

/** Runs the load; `onProgress` is called about once a second. Resolves with every request's sample. */
export async function generateLoad(
  o: LoadOptions,
  onProgress: (p: Progress) => void = () => undefined,
): Promise<{ samples: Sample[]; durationSeconds: number }> {
  const samples: Sample[] = [];
  const started = performance.now();
  const deadline = started + o.durationSeconds * 1000;
  let next = 0;
  let active = 0;
  const elapsed = () => (performance.now() - started) / 1000;
  const ticker = setInterval(() => {
    onProgress({ samples, elapsedSeconds: elapsed(), activeUsers: active });
  }, 1000);

  const user = async (u: number) => {
    const startMs = (o.rampSeconds * 1000 * u) / o.users;
    if (startMs >= o.durationSeconds * 1000) return;
    await sleep(startMs);
    active++;
    try {
      while (performance.now() < deadline && next < o.maxRequests) {
        const sample = await send(o, next++);
        samples.push(sample);
        // Think time varies ±50% so users do not fall into lockstep; after an error a user backs off as
        // client libraries do, rather than hammering a full queue with 429s.
        const failed = !isOk(sample) && sample.outcome !== "cancelled";
        const think = Math.max(o.thinkMs, failed ? ERROR_BACKOFF_MS : 0) * (0.5 + Math.random());
        if (performance.now() + think >= deadline) break;
        await sleep(think);
      }
    } finally {
      active--;
    }
  };
  try {
    await Promise.all(Array.from({ length: o.users }, (_, u) => user(u)));
  } finally {
    clearInterval(ticker);
  }
  return { samples, durationSeconds: elapsed() };
}
