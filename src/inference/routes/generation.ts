import { randomBytes } from "node:crypto";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { RouteOptions } from "./options.js";
import type {
  ChatMessage,
  GenerationResult,
  PreparedRequest,
  Prompt,
  ResponseFormat,
  SamplingParams,
} from "../engine.js";
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
import type { Tools } from "../tools.js";

type Kind = "chat" | "completion";

const SYSTEM_FINGERPRINT = "spillway";

interface Job {
  kind: Kind;
  route: string;
  model: string;
  n: number;
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
    n: body.n ?? 1,
    prompt,
    sampling: sampling(body, maxTokens),
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

/**
 * Log probabilities are refused the way OpenAI refuses a parameter a model does not support:
 * node-llama-cpp's completion API does not report the sampled tokens' probabilities.
 */
function refuseLogprobs(requested: boolean, param: string) {
  if (requested) {
    throw new ApiError(
      400,
      "invalid_request_error",
      "unsupported_parameter",
      `Unsupported parameter: '${param}' is not supported by this server.`,
      param,
    );
  }
}

function chatJob(body: ChatCompletionRequest): Job {
  refuseLogprobs(body.logprobs === true, "logprobs");
  refuseLogprobs((body.top_logprobs ?? 0) > 0, "top_logprobs");
  const messages: ChatMessage[] = body.messages.map((m) => ({
    role: m.role,
    content:
      m.content == null
        ? null
        : typeof m.content === "string"
          ? m.content
          : m.content.map((p) => p.text).join(""),
    toolCalls: m.tool_calls?.map((c) => ({
      id: c.id,
      name: c.function.name,
      arguments: c.function.arguments,
    })),
    toolCallId: m.tool_call_id,
  }));
  const prompt: Prompt = { kind: "chat", messages, tools: tools(body) };
  return job("chat", body, prompt, body.max_completion_tokens ?? body.max_tokens);
}

/** The request's tools as the engine takes them; none when there are none or `tool_choice` is "none". */
function tools(body: ChatCompletionRequest): Tools | undefined {
  const choice = body.tool_choice ?? "auto";
  const functions = (body.tools ?? []).map((t) => ({
    name: t.function.name,
    description: t.function.description,
    // OpenAI allows leaving parameters out: a function that takes no arguments.
    parameters: t.function.parameters ?? { type: "object", properties: {} },
  }));
  if (functions.length === 0) {
    if (choice !== "auto" && choice !== "none") {
      throw errors.invalidRequest("'tool_choice' is only allowed when 'tools' are specified.", "tool_choice");
    }
    return undefined;
  }
  if (choice === "none") return undefined;
  if (typeof choice === "object") {
    const { name } = choice.function;
    if (!functions.some((f) => f.name === name)) {
      throw errors.invalidRequest(
        `Tool choice 'function' with name '${name}' is not in 'tools'.`,
        "tool_choice",
      );
    }
    return { functions, choice: { name } };
  }
  return { functions, choice };
}

function completionJob(body: CompletionRequest): Job {
  refuseLogprobs(body.logprobs != null, "logprobs");
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
  const prepared = await engine.prepare(job.prompt, job.sampling);

  const { metrics } = runtime;
  const scope = requestScope(runtime, reply, timeoutSeconds);
  const { signal } = scope;
  const id = `${job.kind === "chat" ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  let streaming = false;
  const write = (obj: unknown) => reply.raw.write(`data: ${JSON.stringify(obj)}\n\n`);
  // One SSE event: chat carries a delta, a text completion the text itself.
  const chunk = (index: number, delta: Delta, text: string, finish: string | null) => ({
    id,
    object: job.kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created,
    model: runtime.modelId,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [
      { index, ...(job.kind === "chat" ? { delta } : { text }), logprobs: null, finish_reason: finish },
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
      }
      // n choices, one after another on this slot; each with its own seed so that they differ.
      const results: GenerationResult[] = [];
      const callIds: string[][] = [];
      for (let index = 0; index < job.n; index++) {
        const ids: string[] = [];
        callIds.push(ids);
        if (job.stream && job.kind === "chat")
          write(chunk(index, { role: "assistant", content: "" }, "", null));
        const result = await engine.generate(slot, withSeed(prepared, index), {
          signal,
          onFirstToken: () => {
            if (index === 0) metrics.timeToFirstToken.observe((performance.now() - started) / 1000);
          },
          ...(job.stream
            ? {
                onText: (text: string) => write(chunk(index, { content: text }, text, null)),
                onToolCall: (name: string) => {
                  ids.push(toolCallId());
                  const call = { index: 0, id: ids[0], type: "function", function: { name, arguments: "" } };
                  write(chunk(index, { tool_calls: [call] }, "", null));
                },
                onToolArguments: (text: string) =>
                  write(
                    chunk(index, { tool_calls: [{ index: 0, function: { arguments: text } }] }, "", null),
                  ),
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
              logprobs: null,
              finish_reason: r.finishReason,
            })),
          }
        : {
            ...base,
            object: "text_completion" as const,
            choices: results.map((r, index) => ({
              index,
              text: r.text,
              logprobs: null,
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
