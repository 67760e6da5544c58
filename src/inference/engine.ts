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
  TokenBias,
} from "node-llama-cpp";
import { chatHistory, type ChatMessage } from "./chat-history.js";
import { errors } from "./errors.js";
import { decodeInLockstep, inSlotOrder, slotOrder } from "./lockstep.js";
import { SlotPool, type Slots } from "./slots.js";
import { StopMatcher } from "./stop-matcher.js";
import { chooseThreads } from "./threads.js";
import { jsonSchemaGrammar } from "./json-schema-grammar.js";
import {
  LogprobRecorder,
  ScoringCompletion,
  scorePrompt,
  type PromptLogprob,
  type TokenLogprob,
} from "./logprobs.js";
import { DETOKENIZER_CONTEXT, TokenPieces } from "./token-pieces.js";
import {
  callSyntax,
  callTriggers,
  chatModelFunctions,
  nameGrammar,
  nextCallSyntax,
  optionalGrammar,
  plainText,
  type ToolChoice,
  type Tools,
} from "./tools.js";

/**
 * One model, one llama.cpp context with `parallel` sequences ("slots"). Requests that generate at the
 * same time decode in one batch: node-llama-cpp gathers the pending tokens of every sequence of a context
 * into the next llama_decode call (continuous batching), and lockstep.ts makes sure none misses it.
 */

export type { ChatMessage } from "./chat-history.js";
export type { PromptLogprob, TokenLogprob, TopLogprob } from "./logprobs.js";

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
  /** Added to the logits of these tokens before sampling (OpenAI's `logit_bias`). */
  logitBias?: Map<Token, number> | undefined;
  /** Log probabilities of the answer's tokens, with this many alternatives each; none when undefined. */
  logprobs?: number | undefined;
  /** Log probabilities of the prompt's tokens too (with `logprobs` alternatives each). */
  promptLogprobs?: boolean | undefined;
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
  /**
   * The prompt's last tokens, for a text prompt the answer continues: its first token's text depends on
   * them (a sentencepiece model drops a leading space only at the start of a text).
   */
  context?: Token[] | undefined;
}

interface PreparedTools {
  choice: ToolChoice;
  /** Each function's arguments grammar, by name. */
  arguments: Map<string, LlamaGrammar>;
  /** What starts a call the model writes unprompted. */
  triggers: LlamaText[];
  /** After a call: end, or start another (only when more than one call is allowed). */
  next?: LlamaGrammar | undefined;
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
  /** The user's stop sequence that ended the answer, when one did (finishReason "stop"). */
  stopSequence?: string | undefined;
  promptTokens: number;
  completionTokens: number;
  /** The answer text's tokens, when asked for (see logprobs.ts for which distribution). */
  logprobs?: TokenLogprob[] | undefined;
  /** The prompt's tokens, when asked for. */
  promptLogprobs?: PromptLogprob[] | undefined;
}

export interface GenerateCallbacks {
  signal?: AbortSignal;
  /**
   * Text as it is produced; a possible start of a stop sequence is held back until resolved. With
   * logprobs asked for, the tokens whose text is now all out (possibly with no new text, at the end).
   */
  onText?: (text: string, logprobs?: TokenLogprob[]) => void;
  /** Called once when the first token is sampled. */
  onFirstToken?: () => void;
  /** A tool call starts (one per call, in order): its name is known, its arguments follow. */
  onToolCall?: (name: string) => void;
  onToolArguments?: (text: string) => void;
  /** The prompt's tokens, scored before generation starts, when asked for. */
  onPromptLogprobs?: (logprobs: PromptLogprob[]) => void;
}

/**
 * One pass of the model over a slot's sequence; a request is one pass, each tool call up to three more
 * (its name, its arguments, whether another follows).
 */
interface Pass {
  tokens: Token[];
  maxTokens: number;
  grammar?: LlamaGrammar | undefined;
  triggers: (LlamaText | (string | Token)[])[];
  /** The user's stop sequences, matched on text. */
  stop: string[];
  onText?: ((text: string, logprobs?: TokenLogprob[]) => void) | undefined;
  /** Record the tokens' log probabilities, with this many alternatives each. */
  logprobs?: number | undefined;
  /** The tokens the generated ones continue, for their text (PreparedRequest.context). */
  context?: Token[] | undefined;
}

interface PassResult {
  text: string;
  finishReason: "stop" | "length";
  /** The user's stop sequence found, if one ended the pass. */
  stopSequence?: string | undefined;
  /** Stopped at the start of a tool call. */
  calling: boolean;
  logprobs?: TokenLogprob[] | undefined;
}

interface Slot {
  id: number;
  sequence: LlamaContextSequence;
  completion: LlamaCompletion;
  /** The same sequence with token probabilities reported; made for the first request that asks. */
  scoring?: ScoringCompletion;
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
  private readonly pieces: TokenPieces;

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
    this.pieces = new TokenPieces(model);
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
    // Tools first: a schema the prompt's documentation of them cannot render is refused before it is.
    const tools = prompt.kind === "chat" && prompt.tools ? await this.prepareTools(prompt.tools) : undefined;
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
    this.checkLogitBias(sampling.logitBias);
    return {
      tokens,
      promptTokens,
      maxTokens,
      stopTriggers,
      grammar,
      sampling,
      tools,
      context: prompt.kind === "text" ? tokens.slice(-DETOKENIZER_CONTEXT) : undefined,
    };
  }

  /** node-llama-cpp's TokenBias skips end-of-generation tokens: biasing one is refused, not dropped. */
  private checkLogitBias(bias: Map<Token, number> | undefined) {
    for (const token of bias?.keys() ?? []) {
      if (token >= this.vocabularySize) {
        throw errors.invalidRequest(
          `logit_bias has token ${token}, outside the model's vocabulary of ${this.vocabularySize}.`,
          "logit_bias",
        );
      }
      if (this.model.isEogToken(token)) {
        throw errors.invalidRequest(
          `logit_bias cannot bias token ${token}: it ends generation, and this server does not bias those.`,
          "logit_bias",
          "unsupported_value",
        );
      }
    }
  }

  private async prepareTools(tools: Tools): Promise<PreparedTools> {
    const grammars = new Map<string, LlamaGrammar>();
    for (const [i, f] of tools.functions.entries()) {
      try {
        grammars.set(f.name, await jsonSchemaGrammar(this.llama, f.parameters));
        // The wrapper documents the function in the prompt from the same schema, and fails on some the
        // grammar takes (an `enum` that is not a list): as a TypeError deep in the prompt, a 500.
        this.chatWrapper.generateAvailableFunctionsSystemText(chatModelFunctions([f]), {
          documentParams: true,
        });
      } catch (err) {
        throw errors.invalidRequest(
          `tools[${i}].function.parameters is not supported: ${(err as Error).message}`,
          `tools[${i}].function.parameters`,
        );
      }
    }
    // A start the grammar cannot spell (a special token) leaves such a wrapper at one call.
    const next =
      tools.parallel && typeof tools.choice !== "object"
        ? plainText(nextCallSyntax(this.chatWrapper), this.model.tokenizer)
        : undefined;
    return {
      choice: tools.choice,
      arguments: grammars,
      triggers: callTriggers(this.chatWrapper),
      next:
        next === undefined ? undefined : await this.llama.createGrammar({ grammar: optionalGrammar(next) }),
    };
  }

  /** Runs a prepared request on a slot; the caller acquires and releases the slot. */
  async generate(slot: Slot, req: PreparedRequest, cb: GenerateCallbacks = {}): Promise<GenerationResult> {
    let completionTokens = 0;
    let logprobs: TokenLogprob[] | undefined;
    let promptLogprobs: PromptLogprob[] | undefined;
    const result = (text: string, finishReason: FinishReason, toolCalls: GeneratedToolCall[] = []) => ({
      text,
      toolCalls,
      finishReason,
      promptTokens: req.promptTokens,
      completionTokens,
      logprobs,
      promptLogprobs,
    });
    const left = () => req.maxTokens - completionTokens;
    const pass = (p: Pass) =>
      this.pass(slot, req.sampling, p, cb.signal, (n) => {
        if (completionTokens === 0 && n > 0) cb.onFirstToken?.();
        completionTokens += n;
      });
    try {
      const top = req.sampling.logprobs;
      if (top !== undefined) {
        // Asked for, logprobs list the answer's text: none when the answer is only a call.
        logprobs = [];
        if (req.sampling.promptLogprobs) {
          const bos = this.bosCount() === 1 ? this.model.tokens.bos : null;
          promptLogprobs = await scorePrompt(
            slot.sequence,
            this.pieces,
            bos === null ? req.tokens : [bos, ...req.tokens],
            bos !== null,
            top,
            slotOrder(slot.id),
          );
          cb.onPromptLogprobs?.(promptLogprobs);
        }
      }
      const tools = req.tools;
      const choice = tools?.choice ?? "auto";
      let text = "";
      if (choice === "auto") {
        const answer = await pass({
          tokens: req.tokens,
          maxTokens: req.maxTokens,
          grammar: req.grammar,
          context: req.context,
          triggers: [...req.stopTriggers, ...(tools?.triggers ?? [])],
          stop: req.sampling.stop,
          onText: cb.onText,
          logprobs: top,
        });
        logprobs = answer.logprobs;
        if (!tools || !answer.calling)
          return { ...result(answer.text, answer.finishReason), stopSequence: answer.stopSequence };
        text = answer.text;
      }
      if (!tools) throw new Error("a tool choice without tools");
      // Calls: the engine writes each call's prefix and name, the model fills in the arguments and, where
      // more than one call is allowed, whether another follows.
      const grammars = tools.arguments;
      const names = [...grammars.keys()];
      const calls: GeneratedToolCall[] = [];
      // What follows the prompt so far: the answer's text, the calls written, the next call's prefix.
      let written = LlamaText([text, callSyntax(this.chatWrapper, "").prefix]);
      for (;;) {
        // The budget is spent: the call cannot start (node-llama-cpp reads maxTokens 0 as no limit).
        if (left() < 1) return result(text, "length", calls);
        let name = typeof choice === "object" ? choice.name : names.length === 1 ? names[0] : undefined;
        if (name === undefined) {
          const chosen = await pass({
            tokens: [...req.tokens, ...this.tokenize(written)],
            maxTokens: left(),
            grammar: await this.llama.createGrammar({ grammar: nameGrammar(names) }),
            triggers: [],
            stop: [],
          });
          name = chosen.text;
          if (chosen.finishReason === "length" || left() < 1) return result(text, "length", calls);
        }
        cb.onToolCall?.(name);
        const syntax = callSyntax(this.chatWrapper, name);
        const head = LlamaText([written, name, syntax.paramsPrefix]);
        const args = await pass({
          tokens: [...req.tokens, ...this.tokenize(head)],
          maxTokens: left(),
          grammar: grammars.get(name),
          triggers: [],
          stop: [],
          onText: cb.onToolArguments,
        });
        calls.push({ name, arguments: args.text.trim() });
        if (args.finishReason === "length") return result(text, "length", calls);
        if (!tools.next || left() < 1) return result(text, "tool_calls", calls);
        written = LlamaText([head, args.text, syntax.suffix]);
        const next = await pass({
          tokens: [...req.tokens, ...this.tokenize(written)],
          maxTokens: left(),
          grammar: tools.next,
          triggers: [],
          stop: [],
        });
        if (next.text === "") return result(text, "tool_calls", calls);
        if (next.finishReason === "length") return result(text, "length", calls);
        written = LlamaText([written, next.text]);
      }
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
    const generated: Token[] = [];
    const recorder =
      p.logprobs === undefined ? undefined : new LogprobRecorder(this.pieces, p.logprobs, p.context);
    const logprobs: TokenLogprob[] = [];
    const emit = (t: string, rest?: TokenLogprob[]) => {
      text += t;
      const out = rest ?? recorder?.release(text.length);
      if (out) logprobs.push(...out);
      if (t || out?.length) p.onText?.(t, out);
    };
    const stops = new StopMatcher(p.stop);
    const stopped = new AbortController();
    const signal = callerSignal ? AbortSignal.any([callerSignal, stopped.signal]) : stopped.signal;
    let completion = slot.completion;
    if (recorder) {
      slot.scoring ??= new ScoringCompletion(slot.sequence);
      slot.scoring.sink = (token, probabilities) => {
        recorder.sampled(token, probabilities);
      };
      completion = slot.scoring.completion;
    }
    const penalize = (s.frequencyPenalty ?? 0) !== 0 || (s.presencePenalty ?? 0) !== 0;
    const { metadata } = await completion.generateCompletionWithMeta(p.tokens, {
      maxTokens: p.maxTokens,
      // OpenAI's default temperature is 1; 0 selects greedy decoding.
      temperature: s.temperature ?? 1,
      ...(s.topP !== undefined ? { topP: s.topP } : {}),
      ...(s.topK !== undefined ? { topK: s.topK } : {}),
      ...(s.minP !== undefined ? { minP: s.minP } : {}),
      ...(s.seed !== undefined ? { seed: s.seed } : {}),
      // llama.cpp subtracts count × frequency + presence from a seen token's logit, as OpenAI describes
      // it; a negative penalty favours repeats. Newlines count too, as every token does at OpenAI.
      repeatPenalty: penalize
        ? {
            penalty: 1,
            frequencyPenalty: s.frequencyPenalty ?? 0,
            presencePenalty: s.presencePenalty ?? 0,
            penalizeNewLine: true,
          }
        : false,
      ...(s.logitBias ? { tokenBias: this.tokenBias(s.logitBias) } : {}),
      grammar: p.grammar,
      evaluationPriority: slotOrder(slot.id),
      // The chat template's own end-of-turn markers (and a call's start); user stops are matched on text.
      customStopTriggers: p.triggers,
      disableContextShift: true,
      signal,
      // A stop sequence aborts with a normal return; an abort from the caller is rethrown below.
      stopOnAbortSignal: true,
      // The text as LlamaCompletion's onTextChunk would give it, with the prompt as context when given.
      onToken: (chunk) => {
        onTokens(chunk.length);
        recorder?.accepted(chunk);
        const before = [...(p.context ?? []), ...generated.slice(-DETOKENIZER_CONTEXT)];
        emit(stops.push(this.model.detokenize(chunk, false, before)));
        generated.push(...chunk);
        if (stops.stopped) stopped.abort();
      },
    });
    if (slot.scoring) slot.scoring.sink = undefined;
    if (callerSignal?.aborted) throw callerSignal.reason;
    emit(stops.flush());
    if (recorder) emit("", recorder.finish(text.length, stops.stopped));
    const calling =
      metadata.stopReason === "customStopTrigger" &&
      !stops.stopped &&
      this.startsCall(metadata.customStopTrigger);
    return {
      text,
      finishReason: metadata.stopReason === "maxTokens" && !stops.stopped ? "length" : "stop",
      stopSequence: stops.matched,
      calling,
      logprobs: recorder ? logprobs : undefined,
    };
  }

  /** OpenAI's bias is added to the logit, as llama.cpp's logit-bias sampler adds it. */
  private tokenBias(bias: Map<Token, number>): TokenBias {
    const tokenBias = new TokenBias(this.model.tokenizer);
    for (const [token, value] of bias) tokenBias.set(token, { logit: value });
    return tokenBias;
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
