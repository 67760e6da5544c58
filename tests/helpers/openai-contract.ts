import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { createGenerator } from "ts-json-schema-generator";
import { repoRoot } from "../../src/lib/paths.js";

/**
 * Validators for the official SDKs' own types (the `openai` package's, and Anthropic's for the Messages
 * API): JSON Schema generated from their .d.ts files when the tests run, so the contract is the vendor's,
 * not shapes written here. Extra properties are allowed (clients ignore them, and the APIs add fields over
 * time); missing, mistyped or out-of-enum ones fail.
 */

const ajv = new Ajv({ allErrors: true, strict: false });

/** The types of one package, each by the .d.ts file (relative to the package's main) that declares it. */
function contract<T extends string>(pkg: string, files: Record<T, string>) {
  const dir = dirname(createRequire(join(repoRoot, "package.json")).resolve(pkg));
  const cache = new Map<T, ValidateFunction>();

  const schemaOf = (type: T) =>
    createGenerator({
      path: join(dir, files[type]),
      tsconfig: join(repoRoot, "tsconfig.json"),
      type,
      skipTypeCheck: true,
      expose: "all",
      additionalProperties: true,
    }).createSchema(type);

  const validator = (type: T): ValidateFunction => {
    let v = cache.get(type);
    if (!v) {
      v = ajv.compile(schemaOf(type));
      cache.set(type, v);
    }
    return v;
  };

  return {
    validator,
    /** The validation errors of `value` as `type`, as readable lines; [] when it conforms. */
    contractErrors: (type: T, value: unknown): string[] => {
      const v = validator(type);
      return v(value)
        ? []
        : (v.errors ?? []).map(
            (e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`,
          );
    },
    /** The top-level parameters of one of the package's request types, by name. */
    requestParameters: (type: T): string[] => {
      const schema = schemaOf(type) as { definitions?: Record<string, { properties?: object }> };
      const properties = schema.definitions?.[type]?.properties;
      if (!properties) throw new Error(`no properties for ${type} in the generated schema`);
      return Object.keys(properties);
    },
  };
}

const responses = "resources/responses/responses.d.ts";
const openai = contract("openai", {
  ChatCompletion: "resources/chat/completions/completions.d.ts",
  ChatCompletionChunk: "resources/chat/completions/completions.d.ts",
  Completion: "resources/completions.d.ts",
  CreateEmbeddingResponse: "resources/embeddings.d.ts",
  Model: "resources/models.d.ts",
  ErrorObject: "resources/shared.d.ts",
  Response: responses,
  ResponseStreamEvent: responses,
  // Requests: which parameters OpenAI's API has (see requestParameters).
  ChatCompletionCreateParamsBase: "resources/chat/completions/completions.d.ts",
  CompletionCreateParamsBase: "resources/completions.d.ts",
  ResponseCreateParamsBase: responses,
});
export type OpenAIType = Parameters<typeof openai.validator>[0];
export const { validator, contractErrors, requestParameters } = openai;

const messages = "resources/messages/messages.d.ts";
/** Anthropic's types, from @anthropic-ai/sdk. */
export const anthropic = contract("@anthropic-ai/sdk", {
  Message: messages,
  RawMessageStreamEvent: messages,
  ErrorResponse: "resources/shared.d.ts",
  MessageCreateParamsBase: messages,
});
