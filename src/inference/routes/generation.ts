import { randomBytes } from "node:crypto";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { RouteOptions } from "./options.js";
import type { GenerationResult, PreparedRequest, PromptLogprob, TokenLogprob } from "../engine.js";
import { ApiError, errorBody } from "../errors.js";
import type { Runtime } from "../runtime.js";
import { chatJob, completionJob, type Job } from "./jobs.js";
import { chatLogprobs, codePoints, completionLogprobs, concatColumns } from "./logprobs.js";
import { ClientGone, requestScope } from "./request-scope.js";
import {
  ChatCompletionRequest,
  ChatCompletionResponse,
  CompletionRequest,
  CompletionResponse,
  errorResponses,
} from "../schemas.js";

const SYSTEM_FINGERPRINT = "spillway";

function usage(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

async function run(
  runtime: Runtime,
  timeoutSeconds: number,
  job: Job,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const started = performance.now();
  if (job.endUser) {
    // The end user's ids go on every later line of this request, "request completed" included.
    request.log = request.log.child(job.endUser);
    reply.log = request.log;
  }
  const engine = runtime.engineFor(job.model);
  const prepared = await engine.prepare(job.prompt, job.sampling);

  const { metrics } = runtime;
  const scope = requestScope(runtime, reply, timeoutSeconds);
  const { signal } = scope;
  const id = `${job.kind === "chat" ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  let streaming = false;
  const write = (obj: unknown) => reply.raw.write(`data: ${JSON.stringify(obj)}\n\n`);
  const withLogprobs = job.sampling.logprobs !== undefined;
  // A completion's offsets count from the start of its text, which the echoed prompt begins.
  const echoed = job.echo === undefined ? 0 : codePoints(job.echo);
  /** A chunk's logprobs: those of the tokens its text completes (none for the role, calls, finish). */
  const chunkLogprobs = (entries: TokenLogprob[] | undefined) =>
    !withLogprobs || !entries
      ? null
      : job.kind === "chat"
        ? chatLogprobs(entries)
        : completionLogprobs(entries, echoed);
  // One SSE event: chat carries a delta, a text completion the text itself.
  const chunk = (
    index: number,
    delta: Delta,
    text: string,
    finish: string | null,
    logprobs: unknown = null,
  ) => ({
    id,
    object: job.kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created,
    model: runtime.modelId,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index, ...(job.kind === "chat" ? { delta } : { text }), logprobs, finish_reason: finish }],
    ...(job.includeUsage ? { usage: null } : {}),
  });
  // The echoed prompt streams first: with its logprobs once its tokens are scored, else at once.
  const echo = (index: number, entries?: PromptLogprob[]) =>
    write(chunk(index, {}, job.echo ?? "", null, entries ? completionLogprobs(entries) : null));

  try {
    const slot = await engine.slots.acquire(signal);
    try {
      if (job.stream) {
        // From here on fastify no longer answers for us: every outcome is written as an SSE event.
        reply.hijack();
        streaming = true;
        reply.raw.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          connection: "keep-alive",
          "x-accel-buffering": "no",
        });
      }
      // n choices, one after another on this slot; each with its own seed so that they differ.
      const results: GenerationResult[] = [];
      const callIds: string[][] = [];
      for (let index = 0; index < job.n; index++) {
        const ids: string[] = [];
        callIds.push(ids);
        if (job.stream && job.kind === "chat")
          write(chunk(index, { role: "assistant", content: "" }, "", null));
        if (job.stream && job.echo !== undefined && !job.sampling.promptLogprobs) echo(index);
        const result = await engine.generate(slot, withSeed(prepared, index), {
          signal,
          onFirstToken: () => {
            if (index === 0) metrics.timeToFirstToken.observe((performance.now() - started) / 1000);
          },
          ...(job.stream
            ? {
                onPromptLogprobs: (entries: PromptLogprob[]) => echo(index, entries),
                onText: (text: string, logprobs?: TokenLogprob[]) =>
                  write(chunk(index, { content: text }, text, null, chunkLogprobs(logprobs))),
                onToolCall: (name: string) => {
                  ids.push(toolCallId());
                  const call = {
                    index: ids.length - 1,
                    id: ids.at(-1),
                    type: "function",
                    function: { name, arguments: "" },
                  };
                  write(chunk(index, { tool_calls: [call] }, "", null));
                },
                onToolArguments: (text: string) => {
                  const delta = { tool_calls: [{ index: ids.length - 1, function: { arguments: text } }] };
                  write(chunk(index, delta, "", null));
                },
              }
            : { onToolCall: () => ids.push(toolCallId()) }),
        });
        results.push(result);
        if (job.stream) write(chunk(index, {}, "", result.finishReason));
      }
      const promptTokens = prepared.promptTokens;
      const completionTokens = results.reduce((n, r) => n + r.completionTokens, 0);
      metrics.promptTokens.inc(promptTokens);
      metrics.generatedTokens.inc(completionTokens);
      metrics.requestDuration.observe({ route: job.route }, (performance.now() - started) / 1000);
      const u = usage(promptTokens, completionTokens);
      if (job.stream) {
        if (job.includeUsage) write({ ...chunk(0, {}, "", null), choices: [], usage: u });
        reply.raw.end("data: [DONE]\n\n");
        return undefined;
      }
      const base = { id, created, model: runtime.modelId, system_fingerprint: SYSTEM_FINGERPRINT, usage: u };
      return job.kind === "chat"
        ? {
            ...base,
            object: "chat.completion" as const,
            choices: results.map((r, index) => ({
              index,
              message: message(r, callIds[index] ?? []),
              logprobs: withLogprobs ? chatLogprobs(r.logprobs ?? []) : null,
              finish_reason: r.finishReason,
            })),
          }
        : {
            ...base,
            object: "text_completion" as const,
            choices: results.map((r, index) => ({
              index,
              text: (job.echo ?? "") + r.text,
              logprobs: withLogprobs
                ? concatColumns(
                    completionLogprobs(r.promptLogprobs ?? []),
                    completionLogprobs(r.logprobs ?? [], echoed),
                  )
                : null,
              finish_reason: r.finishReason,
            })),
          };
    } finally {
      engine.slots.release(slot);
    }
  } catch (err) {
    const apiErr = scope.cause(err);
    if (apiErr instanceof ClientGone) {
      request.log.info({ route: job.route }, "client disconnected; generation cancelled");
      request.outcome = "499";
      if (streaming) reply.raw.end();
      // Nobody is listening; a hijacked or abandoned reply needs no answer.
      return undefined;
    }
    if (!streaming) throw apiErr;
    // Headers are gone: report in-band, as OpenAI does, and close without [DONE].
    request.log.error({ err }, "stream failed");
    const body =
      apiErr instanceof ApiError
        ? errorBody(apiErr)
        : errorBody(
            new ApiError(500, "server_error", null, "The server had an error while processing your request."),
          );
    write(body);
    reply.raw.end();
    request.outcome = String(apiErr instanceof ApiError ? apiErr.statusCode : 500);
    return undefined;
  } finally {
    scope.end();
  }
}

interface Delta {
  role?: "assistant";
  content?: string;
  tool_calls?: unknown[];
}

function toolCallId(): string {
  return `call_${randomBytes(12).toString("hex")}`;
}

/** Choice i > 0 samples with seed + i: a fixed seed still gives reproducible, different choices. */
function withSeed(req: PreparedRequest, index: number): PreparedRequest {
  const { seed } = req.sampling;
  if (index === 0 || seed === undefined) return req;
  return { ...req, sampling: { ...req.sampling, seed: (seed + index) % 2 ** 32 } };
}

function message(r: GenerationResult, ids: string[]) {
  if (r.toolCalls.length === 0) return { role: "assistant" as const, content: r.text, refusal: null };
  return {
    role: "assistant" as const,
    content: r.text || null,
    refusal: null,
    tool_calls: r.toolCalls.map((c, i) => ({
      id: ids[i] ?? toolCallId(),
      type: "function" as const,
      function: { name: c.name, arguments: c.arguments },
    })),
  };
}

/**
 * Runs a generation and counts it once, with its real outcome: the status it was answered with, or the
 * one run() set for a stream (200 sent, then 499 or an error event).
 */
async function counted(
  runtime: Runtime,
  route: string,
  request: FastifyRequest,
  work: () => Promise<unknown>,
) {
  request.outcome = "200";
  try {
    return await work();
  } catch (err) {
    request.outcome = String((err as { statusCode?: number }).statusCode ?? 500);
    throw err;
  } finally {
    runtime.metrics.requests.inc({ route, status: request.outcome });
  }
}

/** POST /v1/chat/completions and /v1/completions: one generation path, JSON or SSE. */
export const generationRoutes: FastifyPluginAsync<RouteOptions> = (fastify, opts) => {
  const { runtime, requestTimeoutSeconds } = opts;
  fastify.post<{ Body: ChatCompletionRequest }>(
    "/v1/chat/completions",
    { schema: { body: ChatCompletionRequest, response: { 200: ChatCompletionResponse, ...errorResponses } } },
    (request, reply) =>
      counted(runtime, "/v1/chat/completions", request, () =>
        run(runtime, requestTimeoutSeconds, chatJob(request.body), request, reply),
      ),
  );
  fastify.post<{ Body: CompletionRequest }>(
    "/v1/completions",
    { schema: { body: CompletionRequest, response: { 200: CompletionResponse, ...errorResponses } } },
    (request, reply) =>
      counted(runtime, "/v1/completions", request, () =>
        run(runtime, requestTimeoutSeconds, completionJob(request.body), request, reply),
      ),
  );
  // Errors thrown while streaming are written by run(); the rest reach the app's error handler.
  return Promise.resolve();
};
