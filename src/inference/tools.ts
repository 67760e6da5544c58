import {
  LlamaText,
  type ChatModelFunctions,
  type ChatWrapper,
  type GbnfJsonSchema,
  type Tokenizer,
} from "node-llama-cpp";

/**
 * OpenAI tools in the model's own call syntax. node-llama-cpp's chat wrapper documents the functions in
 * the prompt and defines how a call is written (Llama 2's `||call: name({...})`, Llama 3.1's
 * `<function=name>{...}</function>`, …); the engine writes the prefix and name itself and leaves only the
 * arguments to the model, under the function's JSON Schema grammar.
 */

export interface ToolFunction {
  name: string;
  description?: string | undefined;
  /** A JSON Schema for the arguments object. */
  parameters: Record<string, unknown>;
}

/** `auto`: the model may answer or call; `required`: it calls one of the tools; `{name}`: it calls that one. */
export type ToolChoice = "auto" | "required" | { name: string };

export interface Tools {
  functions: ToolFunction[];
  choice: ToolChoice;
  /**
   * Whether a response may hold more than one call (OpenAI's `parallel_tool_calls`). A named choice is
   * always exactly one call, as OpenAI's is.
   */
  parallel: boolean;
}

/** OpenAI's rule for function names; it also keeps a name safe inside a GBNF string literal. */
export const FUNCTION_NAME = "^[a-zA-Z0-9_-]{1,64}$";

export function chatModelFunctions(functions: ToolFunction[]): ChatModelFunctions {
  return Object.fromEntries(
    functions.map((f) => [
      f.name,
      { description: f.description, params: f.parameters as unknown as GbnfJsonSchema },
    ]),
  );
}

export interface CallSyntax {
  prefix: LlamaText;
  paramsPrefix: LlamaText;
  suffix: LlamaText;
}

/** How the wrapper writes a call of `name`, its `{{functionName}}` placeholders filled in. */
export function callSyntax(wrapper: ChatWrapper, name: string): CallSyntax {
  const call = wrapper.settings.functions.call;
  const fill = (text: string | LlamaText) =>
    LlamaText(text).mapValues((v) => (typeof v === "string" ? v.replaceAll("{{functionName}}", name) : v));
  return { prefix: LlamaText(call.prefix), paramsPrefix: fill(call.paramsPrefix), suffix: fill(call.suffix) };
}

/** Text that starts a call when the model writes it unprompted (`tool_choice: auto`). */
export function callTriggers(wrapper: ChatWrapper): LlamaText[] {
  const call = wrapper.settings.functions.call;
  return [LlamaText(call.prefix), ...(call.prefixAlternateMatches ?? []).map((t) => LlamaText(t))];
}

/** A GBNF grammar that admits exactly one of the names. */
export function nameGrammar(names: string[]): string {
  return `root ::= ${names.map((n) => JSON.stringify(n)).join(" | ")}`;
}

/**
 * What the model writes to start another call right after one: the wrapper's separator between calls
 * (for wrappers with a parallel-call section), then a call's prefix. Wrappers without such a section
 * (Llama 2) render several calls of one response one after another, so the prefix alone follows.
 */
export function nextCallSyntax(wrapper: ChatWrapper): LlamaText {
  const { call, parallelism } = wrapper.settings.functions;
  return LlamaText([parallelism?.call.betweenCalls ?? "", call.prefix]);
}

/**
 * `text` as plain text a grammar can spell, or undefined when it holds a special token (Qwen's
 * `<tool_call>`): it is so only if it tokenizes the same with special tokens read as without.
 */
export function plainText(text: LlamaText, tokenizer: Tokenizer): string | undefined {
  const plain = text.toString();
  const special = text.tokenize(tokenizer, "trimLeadingSpace");
  const asText = LlamaText(plain).tokenize(tokenizer, "trimLeadingSpace");
  return special.length === asText.length && special.every((t, i) => t === asText[i]) ? plain : undefined;
}

/**
 * A GBNF grammar that admits nothing (the model ends its turn) or exactly `text` (another call starts).
 * It ends in an accepting state either way, where llama.cpp's grammar admits only end of generation.
 */
export function optionalGrammar(text: string): string {
  return `root ::= (${JSON.stringify(text)})?`;
}
