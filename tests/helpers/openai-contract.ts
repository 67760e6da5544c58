import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { createGenerator } from "ts-json-schema-generator";
import { repoRoot } from "../../src/lib/paths.js";

/**
 * Validators for the official `openai` package's own response types: JSON Schema generated from its
 * .d.ts files when the tests run, so the contract is OpenAI's, not shapes written here. Extra properties
 * are allowed (clients ignore them, and OpenAI adds fields over time); missing, mistyped or out-of-enum
 * ones fail.
 */

const openaiDir = dirname(createRequire(join(repoRoot, "package.json")).resolve("openai"));
const FILES = {
  ChatCompletion: "resources/chat/completions/completions.d.ts",
  ChatCompletionChunk: "resources/chat/completions/completions.d.ts",
  Completion: "resources/completions.d.ts",
  CreateEmbeddingResponse: "resources/embeddings.d.ts",
  Model: "resources/models.d.ts",
  ErrorObject: "resources/shared.d.ts",
  // Requests: which parameters OpenAI's API has (see requestParameters).
  ChatCompletionCreateParamsBase: "resources/chat/completions/completions.d.ts",
  CompletionCreateParamsBase: "resources/completions.d.ts",
} as const;
export type OpenAIType = keyof typeof FILES;

const ajv = new Ajv({ allErrors: true, strict: false });
const cache = new Map<OpenAIType, ValidateFunction>();

function schemaOf(type: OpenAIType) {
  return createGenerator({
    path: join(openaiDir, FILES[type]),
    tsconfig: join(repoRoot, "tsconfig.json"),
    type,
    skipTypeCheck: true,
    expose: "all",
    additionalProperties: true,
  }).createSchema(type);
}

export function validator(type: OpenAIType): ValidateFunction {
  let v = cache.get(type);
  if (!v) {
    v = ajv.compile(schemaOf(type));
    cache.set(type, v);
  }
  return v;
}

/** The top-level parameters of one of OpenAI's request types, by name. */
export function requestParameters(
  type: "ChatCompletionCreateParamsBase" | "CompletionCreateParamsBase",
): string[] {
  const schema = schemaOf(type) as { definitions?: Record<string, { properties?: object }> };
  const properties = schema.definitions?.[type]?.properties;
  if (!properties) throw new Error(`no properties for ${type} in the generated schema`);
  return Object.keys(properties);
}

/** The validation errors of `value` as `type`, as readable lines; [] when it conforms. */
export function contractErrors(type: OpenAIType, value: unknown): string[] {
  const v = validator(type);
  return v(value)
    ? []
    : (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`);
}
