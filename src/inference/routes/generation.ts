import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { RouteOptions } from "./options.js";
import type { PreparedRequest, PromptLogprob, TokenLogprob } from "../engine.js";
import { ApiError } from "../errors.js";
import type { Runtime } from "../runtime.js";
import { completionsEncoder } from "./completions-encoder.js";
import { sse, type Encoder, type SseEvent } from "./encoder.js";
import { chatJob, completionJob, type Job } from "./jobs.js";
import { ClientGone, requestScope } from "./request-scope.js";
import {
  ChatCompletionRequest,
  ChatCompletionResponse,
  CompletionRequest,
  CompletionResponse,
  errorResponses,
} from "../schemas.js";

/**
 * Runs a job on a slot and answers with what `encoder` makes of it: the one generation path of every
 * API (chat, completions, responses, messages), JSON or SSE.
 */
export async function run(
  runtime: Runtime,
  timeoutSeconds: number,
  job: Job,
  encoder: Encoder,
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
  let streaming = false;
  const write = (events: SseEvent[]) => {
    for (const e of events) reply.raw.write(sse(e));
  };

  try {
    const slot = await engine.slots.acquire(signal);
    try {
      if (job.stream) {
        // From here on fastify no longer answers for us: every outcome is written as an SSE event.
        reply.hijack();
        streaming = true;
        // No Connection header of our own: Node's says keep-alive with the server's timeout, or close when
        // the connection is to end after this answer (draining, or past its age).
        reply.raw.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          "x-accel-buffering": "no",
        });
        write(encoder.open(prepared.promptTokens));
      }
      // n choices, one after another on this slot; each with its own seed so that they differ.
      let completionTokens = 0;
      for (let index = 0; index < job.n; index++) {
        if (job.stream) write(encoder.start(index));
        const result = await engine.generate(slot, withSeed(prepared, index), {
          signal,
          onFirstToken: () => {
            if (index === 0) metrics.timeToFirstToken.observe((performance.now() - started) / 1000);
          },
          onToolCall: (name: string) => {
            const events = encoder.toolCall(index, name);
            if (job.stream) write(events);
          },
          ...(job.stream
            ? {
                onPromptLogprobs: (entries: PromptLogprob[]) => {
                  write(encoder.promptScored?.(index, entries) ?? []);
                },
                onText: (text: string, logprobs?: TokenLogprob[]) => {
                  write(encoder.text(index, text, logprobs));
                },
                onToolArguments: (text: string) => {
                  write(encoder.toolArguments(index, text));
                },
              }
            : {}),
        });
        completionTokens += result.completionTokens;
        const events = encoder.end(index, result);
        if (job.stream) write(events);
      }
      const { promptTokens } = prepared;
      metrics.promptTokens.inc(promptTokens);
      metrics.generatedTokens.inc(completionTokens);
      metrics.requestDuration.observe({ route: job.route }, (performance.now() - started) / 1000);
      const usage = { promptTokens, completionTokens };
      if (!job.stream) return encoder.body(usage);
      write(encoder.close(usage));
      reply.raw.end();
      return undefined;
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
    // Headers are gone: the API's own failure events end the stream.
    request.log.error({ err }, "stream failed");
    const known =
      apiErr instanceof ApiError
        ? apiErr
        : new ApiError(500, "server_error", null, "The server had an error while processing your request.");
    write(encoder.fail(known));
    reply.raw.end();
    request.outcome = String(known.statusCode);
    return undefined;
  } finally {
    scope.end();
  }
}

/** Choice i > 0 samples with seed + i: a fixed seed still gives reproducible, different choices. */
function withSeed(req: PreparedRequest, index: number): PreparedRequest {
  const { seed } = req.sampling;
  if (index === 0 || seed === undefined) return req;
  return { ...req, sampling: { ...req.sampling, seed: (seed + index) % 2 ** 32 } };
}

/**
 * Runs a generation and counts it once, with its real outcome: the status it was answered with, or the
 * one run() set for a stream (200 sent, then 499 or an error event).
 */
export async function counted(
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
  const serve = (job: Job, request: FastifyRequest, reply: FastifyReply) =>
    run(runtime, requestTimeoutSeconds, job, completionsEncoder(job, runtime.modelId), request, reply);
  fastify.post<{ Body: ChatCompletionRequest }>(
    "/v1/chat/completions",
    { schema: { body: ChatCompletionRequest, response: { 200: ChatCompletionResponse, ...errorResponses } } },
    (request, reply) =>
      counted(runtime, "/v1/chat/completions", request, () => serve(chatJob(request.body), request, reply)),
  );
  fastify.post<{ Body: CompletionRequest }>(
    "/v1/completions",
    { schema: { body: CompletionRequest, response: { 200: CompletionResponse, ...errorResponses } } },
    (request, reply) =>
      counted(runtime, "/v1/completions", request, () => serve(completionJob(request.body), request, reply)),
  );
  // Errors thrown while streaming are written by run(); the rest reach the app's error handler.
  return Promise.resolve();
};
