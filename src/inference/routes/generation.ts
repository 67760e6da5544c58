import { randomBytes } from "node:crypto";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { AppOptions } from "../app.js";
import type { ChatMessage, Prompt, ResponseFormat, SamplingParams } from "../engine.js";
import { ApiError, errorBody, errors } from "../errors.js";
import type { Runtime } from "../runtime.js";
import { ClientGone, requestScope } from "./request-scope.js";
import {
  ChatCompletionRequest,
  ChatCompletionResponse,
  CompletionRequest,
  CompletionResponse,
  errorResponses,
} from "../schemas.js";

type Kind = "chat" | "completion";

const SYSTEM_FINGERPRINT = "spillway";

interface Job {
  kind: Kind;
  route: string;
  model: string;
  n: number | null | undefined;
  prompt: Prompt;
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
}

function responseFormat(body: ChatCompletionRequest | CompletionRequest): ResponseFormat | undefined {
  const f = body.response_format;
  if (!f || f.type === "text") return undefined;
  if (f.type === "json_object") return { type: "json_object" };
  if (!f.json_schema.schema) {
    throw errors.invalidRequest(
      "Missing required parameter: 'response_format.json_schema.schema'.",
      "response_format.json_schema.schema",
    );
  }
  return { type: "json_schema", schema: f.json_schema.schema };
}

function sampling(
  body: ChatCompletionRequest | CompletionRequest,
  maxTokens: number | null | undefined,
): SamplingParams {
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    maxTokens: maxTokens ?? undefined,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    topK: body.top_k ?? undefined,
    minP: body.min_p ?? undefined,
    seed: body.seed ?? undefined,
    stop,
    presencePenalty: body.presence_penalty ?? undefined,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    responseFormat: responseFormat(body),
  };
}

/** What both routes share; the rest is the prompt and the token limit. */
function job(
  kind: Kind,
  body: ChatCompletionRequest | CompletionRequest,
  prompt: Prompt,
  maxTokens: number | null | undefined,
): Job {
  return {
    kind,
    route: kind === "chat" ? "/v1/chat/completions" : "/v1/completions",
    model: body.model,
    n: body.n,
    prompt,
    sampling: sampling(body, maxTokens),
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

function chatJob(body: ChatCompletionRequest): Job {
  const messages: ChatMessage[] = body.messages.map((m) => ({
    role: m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
  }));
  return job("chat", body, { kind: "chat", messages }, body.max_completion_tokens ?? body.max_tokens);
}

function completionJob(body: CompletionRequest): Job {
  const text = typeof body.prompt === "string" ? body.prompt : (body.prompt[0] ?? "");
  return job("completion", body, { kind: "text", text }, body.max_tokens);
}

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
  const engine = runtime.engineFor(job.model);
  if (job.n != null && job.n !== 1) throw errors.invalidRequest("Only n=1 is supported.", "n");
  const prepared = await engine.prepare(job.prompt, job.sampling);

  const { metrics } = runtime;
  const scope = requestScope(runtime, reply, timeoutSeconds);
  const { signal } = scope;
  const id = `${job.kind === "chat" ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  let streaming = false;
  const write = (obj: unknown) => reply.raw.write(`data: ${JSON.stringify(obj)}\n\n`);
  // One SSE event: chat carries a delta, a text completion the text itself.
  const chunk = (delta: { role?: "assistant"; content?: string }, text: string, finish: string | null) => ({
    id,
    object: job.kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created,
    model: runtime.modelId,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [
      { index: 0, ...(job.kind === "chat" ? { delta } : { text }), logprobs: null, finish_reason: finish },
    ],
    ...(job.includeUsage ? { usage: null } : {}),
  });

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
        if (job.kind === "chat") write(chunk({ role: "assistant", content: "" }, "", null));
      }
      const result = await engine.generate(slot, prepared, {
        signal,
        onFirstToken: () => {
          metrics.timeToFirstToken.observe((performance.now() - started) / 1000);
        },
        ...(job.stream ? { onText: (text: string) => write(chunk({ content: text }, text, null)) } : {}),
      });
      metrics.promptTokens.inc(result.promptTokens);
      metrics.generatedTokens.inc(result.completionTokens);
      metrics.requestDuration.observe({ route: job.route }, (performance.now() - started) / 1000);
      const u = usage(result.promptTokens, result.completionTokens);
      if (job.stream) {
        write(chunk({}, "", result.finishReason));
        if (job.includeUsage) {
          write({ ...chunk({}, "", null), choices: [], usage: u });
        }
        reply.raw.end("data: [DONE]\n\n");
        return undefined;
      }
      const base = { id, created, model: runtime.modelId, system_fingerprint: SYSTEM_FINGERPRINT, usage: u };
      return job.kind === "chat"
        ? {
            ...base,
            object: "chat.completion" as const,
            choices: [
              {
                index: 0,
                message: { role: "assistant" as const, content: result.text, refusal: null },
                logprobs: null,
                finish_reason: result.finishReason,
              },
            ],
          }
        : {
            ...base,
            object: "text_completion" as const,
            choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason }],
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
export const generationRoutes: FastifyPluginAsync<AppOptions> = (fastify, opts) => {
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
