import { availableParallelism } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import {
  getLlama,
  LlamaCompletion,
  LlamaLogLevel,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
  LlamaText,
} from "node-llama-cpp";
import { chatHistory, type ChatMessage } from "./chat-history.js";
import { errors } from "./errors.js";
import { decodeInLockstep, inSlotOrder, slotOrder } from "./lockstep.js";
import { SlotPool, type Slots } from "./slots.js";
import { StopMatcher } from "./stop-matcher.js";
import { chooseThreads } from "./threads.js";
import { jsonSchemaGrammar } from "./json-schema-grammar.js";
import {
  callSyntax,
  callTriggers,
  chatModelFunctions,
  nameGrammar,
  type ToolChoice,
  type Tools,
} from "./tools.js";

/**
 * One model, one llama.cpp context with `parallel` sequences ("slots"). Requests that generate at the
 * same time decode in one batch: node-llama-cpp gathers the pending tokens of every sequence of a context
 * into the next llama_decode call (continuous batching), and lockstep.ts makes sure none misses it.
 */

export type { ChatMessage } from "./chat-history.js";

export type Prompt =
  { kind: "text"; text: string } | { kind: "chat"; messages: ChatMessage[]; tools?: Tools | undefined };

export type ResponseFormat =
  { type: "text" } | { type: "json_object" } | { type: "json_schema"; schema: Record<string, unknown> };

export interface SamplingParams {
  maxTokens?: number | undefined;
  temperature?: number | undefined;
  topP?: number | undefined;
  topK?: number | undefined;
  minP?: number | undefined;
  seed?: number | undefined;
  stop: string[];
  presencePenalty?: number | undefined;
  frequencyPenalty?: number | undefined;
  responseFormat?: ResponseFormat | undefined;
}

/** A request ready to run: tokenized, with its limits resolved. */
export interface PreparedRequest {
  tokens: Token[];
  /** Prompt tokens as evaluated, including the BOS token llama.cpp prepends. */
  promptTokens: number;
  maxTokens: number;
  /** The chat template's end-of-turn markers, as tokens. */
  stopTriggers: (string | Token)[][];
  grammar?: LlamaGrammar | undefined;
  sampling: SamplingParams;
  tools?: PreparedTools | undefined;
}

interface PreparedTools {
  choice: ToolChoice;
  /** Each function's arguments grammar, by name. */
  arguments: Map<string, LlamaGrammar>;
  /** What starts a call the model writes unprompted. */
  triggers: LlamaText[];
}

export type FinishReason = "stop" | "length" | "tool_calls";

export interface GeneratedToolCall {
  name: string;
  /** JSON text of the arguments object. */
  arguments: string;
}

export interface GenerationResult {
  /** The answer's text; with a tool call, what the model wrote before it (often empty). */
  text: string;
  toolCalls: GeneratedToolCall[];
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

export interface GenerateCallbacks {
  signal?: AbortSignal;
  /** Text as it is produced; a possible start of a stop sequence is held back until resolved. */
  onText?: (text: string) => void;
  /** Called once when the first token is sampled. */
  onFirstToken?: () => void;
  /** A tool call starts: its name is known, its arguments follow through onToolArguments. */
  onToolCall?: (name: string) => void;
  onToolArguments?: (text: string) => void;
}

/** One pass of the model over a slot's sequence; a request is one pass, a tool call up to three. */
interface Pass {
  tokens: Token[];
  maxTokens: number;
  grammar?: LlamaGrammar | undefined;
  triggers: (LlamaText | (string | Token)[])[];
  /** The user's stop sequences, matched on text. */
  stop: string[];
  onText?: ((text: string) => void) | undefined;
}

interface PassResult {
  text: string;
  finishReason: "stop" | "length";
  /** Stopped at the start of a tool call. */
  calling: boolean;
}

interface Slot {
  id: number;
  sequence: LlamaContextSequence;
  completion: LlamaCompletion;
}

export interface EngineOptions {
  modelPath: string;
  contextSize: number;
  parallel: number;
  threads: number;
  batchSize: number;
  maxQueue: number;
  log: (level: "error" | "warn" | "info" | "debug", msg: string, fields?: Record<string, unknown>) => void;
}

/** What to embed: a text, or tokens of this model's vocabulary. */
export type EmbeddingInput = string | Token[];

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
}

/**
 * What the routes use of an engine, so that route tests can serve them with a fake one. A slot is
 * opaque to them: they take it from `slots` and hand it back to `generate`.
 */
export interface ServedEngine {
  readonly slots: Slots;
  readonly contextSize: number;
  readonly embeddingSize: number;
  prepare(prompt: Prompt, sampling: SamplingParams): Promise<PreparedRequest>;
  generate(slot: unknown, req: PreparedRequest, cb?: GenerateCallbacks): Promise<GenerationResult>;
  embed(inputs: EmbeddingInput[], signal?: AbortSignal): Promise<EmbeddingResult>;
}

export class ModelLoadError extends Error {
  override name = "ModelLoadError";
}

export class Engine implements ServedEngine {
  readonly slots: SlotPool<Slot>;
  /** llama.cpp's threads, as chosen (see threads.ts). */
  readonly threads: number;
  private jsonGrammar: Promise<LlamaGrammar> | undefined;
  private embedder: Promise<LlamaEmbeddingContext> | undefined;

  private constructor(
    private readonly llama: Llama,
    readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly chatWrapper: ChatWrapper,
    slots: Slot[],
    readonly contextSize: number,
    maxQueue: number,
    threads: number,
  ) {
    this.slots = new SlotPool(slots, maxQueue);
    this.threads = threads;
  }

  static async load(opts: EngineOptions): Promise<Engine> {
    // llama.cpp explains a failed load only in its log; keep the recent lines to put in the error.
    const recent: string[] = [];
    const llama = await getLlama({
      build: "never",
      gpu: "auto",
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trim();
        if (!text) return;
        recent.push(text);
        if (recent.length > 20) recent.shift();
        const mapped = level === LlamaLogLevel.error || level === LlamaLogLevel.fatal ? "error" : "warn";
        opts.log(mapped, "llama.cpp", { message: text });
      },
    });
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: opts.modelPath });
    } catch (err) {
      // llama.cpp's log lines reach JS asynchronously, after the load has already failed.
      await sleep(100);
      const reason = recent
        .filter((l) => /error|fail|invalid|unknown|missing|wrong|corrupt/i.test(l))
        .slice(-2);
      // node-llama-cpp reads the GGUF header in JS first; a garbled header fails there with a TypeError.
      const what =
        err instanceof TypeError ? `invalid GGUF metadata (${err.message})` : (err as Error).message;
      throw new ModelLoadError(
        `cannot load ${opts.modelPath}: ${what}${reason.length ? ` (llama.cpp: ${reason.join("; ")})` : ""}`,
        { cause: err },
      );
    }
    const threads = chooseThreads({
      configured: opts.threads,
      embedding: model.embeddingVectorSize,
      cpus: availableParallelism(),
    });
    const context = await model.createContext({
      contextSize: opts.contextSize * opts.parallel,
      sequences: opts.parallel,
      batchSize: opts.batchSize,
      threads,
      batching: { itemPrioritizationStrategy: inSlotOrder },
    });
    let lockstep = true;
    const slots = Array.from({ length: opts.parallel }, (_, id) => {
      const sequence = context.getSequence();
      lockstep = decodeInLockstep(sequence) && lockstep;
      return { id, sequence, completion: new LlamaCompletion({ contextSequence: sequence }) };
    });
    const chatWrapper = resolveChatWrapper(model);
    opts.log("info", "model loaded", {
      path: opts.modelPath,
      embedding: model.embeddingVectorSize,
      trainContextSize: model.trainContextSize,
      contextSize: opts.contextSize,
      parallel: opts.parallel,
      threads,
      // node-llama-cpp decodes on libuv's threadpool; one worker is much faster (see threads.ts).
      uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? "4 (libuv's default)",
      lockstep,
      chatWrapper: chatWrapper.wrapperName,
      gpu: llama.gpu,
    });
    return new Engine(llama, model, context, chatWrapper, slots, opts.contextSize, opts.maxQueue, threads);
  }

  private bosCount(): number {
    return this.model.tokens.bos !== null && this.model.tokens.shouldPrependBosToken ? 1 : 0;
  }

  private promptTokens(prompt: Prompt): { tokens: Token[]; stopTriggers: (string | Token)[][] } {
    if (prompt.kind === "text") {
      return { tokens: this.model.tokenize(prompt.text), stopTriggers: [] };
    }
    const history: ChatHistoryItem[] = chatHistory(prompt.messages);
    history.push({ type: "model", response: [] });
    const functions = prompt.tools && chatModelFunctions(prompt.tools.functions);
    const state = this.chatWrapper.generateContextState({
      chatHistory: history,
      ...(functions ? { availableFunctions: functions, documentFunctionParams: true } : {}),
    });
    let tokens = state.contextText.tokenize(this.model.tokenizer);
    // LlamaCompletion prepends BOS itself.
    if (tokens[0] === this.model.tokens.bos && this.bosCount() === 1) tokens = tokens.slice(1);
    const stopTriggers = state.stopGenerationTriggers.map((t) =>
      t.tokenize(this.model.tokenizer, "trimLeadingSpace"),
    );
    return { tokens, stopTriggers };
  }

  /** Tokenizes and checks limits; throws ApiError (400) for requests that cannot fit the context. */
  async prepare(prompt: Prompt, sampling: SamplingParams): Promise<PreparedRequest> {
    const { tokens, stopTriggers } = this.promptTokens(prompt);
    const promptTokens = tokens.length + this.bosCount();
    const maxTokens = sampling.maxTokens ?? this.contextSize - promptTokens;
    if (promptTokens + maxTokens > this.contextSize || maxTokens < 1) {
      const param = prompt.kind === "chat" ? "messages" : "prompt";
      throw errors.contextLengthExceeded(promptTokens, Math.max(maxTokens, 1), this.contextSize, param);
    }
    let grammar: LlamaGrammar | undefined;
    const format = sampling.responseFormat;
    if (format?.type === "json_object") {
      // Built once: the JSON grammar is the same for every request.
      this.jsonGrammar ??= this.llama.getGrammarFor("json");
      grammar = await this.jsonGrammar;
    } else if (format?.type === "json_schema") {
      try {
        grammar = await jsonSchemaGrammar(this.llama, format.schema);
      } catch (err) {
        throw errors.invalidRequest(
          `response_format.json_schema.schema is not supported: ${(err as Error).message}`,
          "response_format",
        );
      }
    }
    const tools = prompt.kind === "chat" && prompt.tools ? await this.prepareTools(prompt.tools) : undefined;
    return {
      tokens,
      promptTokens,
      maxTokens,
      stopTriggers,
      grammar,
      sampling,
      tools,
    };
  }

  private async prepareTools(tools: Tools): Promise<PreparedTools> {
    const grammars = new Map<string, LlamaGrammar>();
    for (const [i, f] of tools.functions.entries()) {
      try {
        grammars.set(f.name, await jsonSchemaGrammar(this.llama, f.parameters));
      } catch (err) {
        throw errors.invalidRequest(
          `tools[${i}].function.parameters is not supported: ${(err as Error).message}`,
          `tools[${i}].function.parameters`,
        );
      }
    }
    return { choice: tools.choice, arguments: grammars, triggers: callTriggers(this.chatWrapper) };
  }

  /** Runs a prepared request on a slot; the caller acquires and releases the slot. */
  async generate(slot: Slot, req: PreparedRequest, cb: GenerateCallbacks = {}): Promise<GenerationResult> {
    let completionTokens = 0;
    const result = (text: string, finishReason: FinishReason, toolCalls: GeneratedToolCall[] = []) => ({
      text,
      toolCalls,
      finishReason,
      promptTokens: req.promptTokens,
      completionTokens,
    });
    const pass = (p: Pass) =>
      this.pass(slot, req.sampling, p, cb.signal, (n) => {
        if (completionTokens === 0 && n > 0) cb.onFirstToken?.();
        completionTokens += n;
      });
    try {
      const tools = req.tools;
      const choice = tools?.choice ?? "auto";
      let text = "";
      if (choice === "auto") {
        const answer = await pass({
          tokens: req.tokens,
          maxTokens: req.maxTokens,
          grammar: req.grammar,
          triggers: [...req.stopTriggers, ...(tools?.triggers ?? [])],
          stop: req.sampling.stop,
          onText: cb.onText,
        });
        if (!tools || !answer.calling) return result(answer.text, answer.finishReason);
        text = answer.text;
      }
      if (!tools) throw new Error("a tool choice without tools");
      // A call: the prefix and the name are written here, the model fills in the arguments.
      const grammars = tools.arguments;
      const names = [...grammars.keys()];
      const prefix = callSyntax(this.chatWrapper, "").prefix;
      let name = typeof choice === "object" ? choice.name : names.length === 1 ? names[0] : undefined;
      // The budget is spent: the call cannot start (node-llama-cpp reads maxTokens 0 as no limit).
      if (req.maxTokens - completionTokens < 1) return result(text, "length");
      if (name === undefined) {
        const chosen = await pass({
          tokens: [...req.tokens, ...this.tokenize(LlamaText([text, prefix]))],
          maxTokens: req.maxTokens - completionTokens,
          grammar: await this.llama.createGrammar({ grammar: nameGrammar(names) }),
          triggers: [],
          stop: [],
        });
        name = chosen.text;
        if (chosen.finishReason === "length" || req.maxTokens - completionTokens < 1) {
          return result(text, "length");
        }
      }
      cb.onToolCall?.(name);
      const syntax = callSyntax(this.chatWrapper, name);
      const args = await pass({
        tokens: [
          ...req.tokens,
          ...this.tokenize(LlamaText([text, syntax.prefix, name, syntax.paramsPrefix])),
        ],
        maxTokens: req.maxTokens - completionTokens,
        grammar: grammars.get(name),
        triggers: [],
        stop: [],
        onText: cb.onToolArguments,
      });
      const call = { name, arguments: args.text.trim() };
      return result(text, args.finishReason === "length" ? "length" : "tool_calls", [call]);
    } finally {
      // Reuse the sequence for the next request instead of disposing it.
      await slot.sequence.clearHistory();
    }
  }

  private tokenize(text: LlamaText): Token[] {
    return text.tokenize(this.model.tokenizer, "trimLeadingSpace");
  }

  private async pass(
    slot: Slot,
    s: SamplingParams,
    p: Pass,
    callerSignal: AbortSignal | undefined,
    onTokens: (count: number) => void,
  ): Promise<PassResult> {
    let text = "";
    const emit = (t: string) => {
      if (!t) return;
      text += t;
      p.onText?.(t);
    };
    const stops = new StopMatcher(p.stop);
    const stopped = new AbortController();
    const signal = callerSignal ? AbortSignal.any([callerSignal, stopped.signal]) : stopped.signal;
    const penalize = (s.frequencyPenalty ?? 0) > 0 || (s.presencePenalty ?? 0) > 0;
    const { metadata } = await slot.completion.generateCompletionWithMeta(p.tokens, {
      maxTokens: p.maxTokens,
      // OpenAI's default temperature is 1; 0 selects greedy decoding.
      temperature: s.temperature ?? 1,
      ...(s.topP !== undefined ? { topP: s.topP } : {}),
      ...(s.topK !== undefined ? { topK: s.topK } : {}),
      ...(s.minP !== undefined ? { minP: s.minP } : {}),
      ...(s.seed !== undefined ? { seed: s.seed } : {}),
      // OpenAI penalties range over [-2, 2]; llama.cpp's over [0, 1]: negative ones are dropped.
      repeatPenalty: penalize
        ? {
            penalty: 1,
            frequencyPenalty: clamp01(s.frequencyPenalty),
            presencePenalty: clamp01(s.presencePenalty),
          }
        : false,
      grammar: p.grammar,
      evaluationPriority: slotOrder(slot.id),
      // The chat template's own end-of-turn markers (and a call's start); user stops are matched on text.
      customStopTriggers: p.triggers,
      disableContextShift: true,
      signal,
      // A stop sequence aborts with a normal return; an abort from the caller is rethrown below.
      stopOnAbortSignal: true,
      onToken: (chunk) => {
        onTokens(chunk.length);
      },
      onTextChunk: (chunk) => {
        emit(stops.push(chunk));
        if (stops.stopped) stopped.abort();
      },
    });
    if (callerSignal?.aborted) throw callerSignal.reason;
    emit(stops.flush());
    const calling =
      metadata.stopReason === "customStopTrigger" &&
      !stops.stopped &&
      this.startsCall(metadata.customStopTrigger);
    return {
      text,
      finishReason: metadata.stopReason === "maxTokens" && !stops.stopped ? "length" : "stop",
      calling,
    };
  }

  /** Whether a stop trigger that ended a pass is the start of a tool call, not an end of turn. */
  private startsCall(trigger: (string | Token)[]): boolean {
    const text = trigger
      .map((t) => (typeof t === "string" ? t : this.model.detokenize([t], true)))
      .join("")
      .trim();
    return callTriggers(this.chatWrapper).some((t) => t.toString().trim() === text);
  }

  /** Dimensions of the model's embeddings. */
  get embeddingSize(): number {
    return this.model.embeddingVectorSize;
  }

  /** Tokens in the model's vocabulary; token inputs outside it are refused before they reach llama.cpp. */
  get vocabularySize(): number {
    return this.model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  }

  /**
   * One embedding per input, in order. The embedding context (a second, single-sequence context) is made
   * on first use, so a server that only generates pays nothing for it. The caller holds a slot.
   */
  async embed(inputs: EmbeddingInput[], signal?: AbortSignal): Promise<EmbeddingResult> {
    this.embedder ??= this.model.createEmbeddingContext({
      contextSize: this.contextSize,
      batchSize: this.contextSize,
      threads: this.threads,
    });
    const context = await this.embedder;
    const prepared = inputs.map((input, i) => {
      const tokens = typeof input === "string" ? this.model.tokenize(input) : [...input];
      const bad = tokens.find((t) => t >= this.vocabularySize);
      if (bad !== undefined) {
        throw errors.invalidRequest(
          `input[${i}] has token ${bad}, outside the model's vocabulary of ${this.vocabularySize}.`,
          "input",
        );
      }
      // As evaluated: with the BOS (and EOS) the model's tokenizer adds.
      const length = context.calculateInputLength([...tokens]);
      if (length >= this.contextSize) {
        throw errors.invalidRequest(
          `input[${i}] is ${length} tokens; this model's maximum context length for embeddings is ${this.contextSize - 1}.`,
          "input",
          "context_length_exceeded",
        );
      }
      return { tokens, length };
    });
    const vectors: number[][] = [];
    for (const { tokens } of prepared) {
      signal?.throwIfAborted();
      vectors.push([...(await context.getEmbeddingFor(tokens)).vector]);
    }
    return { vectors, promptTokens: prepared.reduce((n, p) => n + p.length, 0) };
  }

  async close(): Promise<void> {
    if (this.embedder) await (await this.embedder).dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

function clamp01(v: number | undefined): number {
  return Math.min(1, Math.max(0, v ?? 0));
}
