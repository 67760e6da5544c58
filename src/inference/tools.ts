import { LlamaText, type ChatModelFunctions, type ChatWrapper, type GbnfJsonSchema } from "node-llama-cpp";

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
