import { LlamaText, type Llama, type LlamaGrammar } from "node-llama-cpp";

/**
 * A grammar for a request's `response_format.json_schema`. node-llama-cpp's rule for `"type": "integer"`
 * lets an exponent follow the digits, so an integer field could come out as `1311611161e61616116`
 * (JSON.parse reads Infinity). The rule is rewritten to plain digits; everything else is the library's
 * grammar, with the same stop at four newlines. A test fails when the library renames or fixes the rule.
 */
export const INTEGER_RULE = /^integer-number-rule ::= .*$/m;
const INTEGER = 'integer-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15})';

export async function jsonSchemaGrammar(
  llama: Llama,
  schema: Record<string, unknown>,
): Promise<LlamaGrammar> {
  const grammar = await llama.createGrammarForJsonSchema(schema as never);
  if (!INTEGER_RULE.test(grammar.grammar)) return grammar;
  return llama.createGrammar({
    grammar: grammar.grammar.replace(INTEGER_RULE, INTEGER),
    stopGenerationTriggers: [LlamaText(["\n".repeat(4)])],
    trimWhitespaceSuffix: true,
  });
}
