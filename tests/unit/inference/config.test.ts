import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/inference/config.js";
import { chooseThreads } from "../../../src/inference/threads.js";
import { modelIdFor } from "../../../src/inference/server.js";

describe("inference config", () => {
  it("reads flags over environment variables, with defaults", () => {
    const c = loadConfig(["--model", "/m/a.gguf", "--parallel", "8"], {
      SPILLWAY_PARALLEL: "2",
      SPILLWAY_PORT: "9000",
    });
    expect(c).toMatchObject({ model: "/m/a.gguf", parallel: 8, port: 9000, contextSize: 2048, threads: 0 });
  });

  it("takes the API key from the environment or a file, never a flag", () => {
    expect(loadConfig([], { SPILLWAY_MODEL: "m", SPILLWAY_API_KEY: "k" }).apiKey).toBe("k");
    expect(() => loadConfig(["--model", "m", "--api-key", "k"], {})).toThrow(ConfigError);
  });

  it.each([
    [["--parallel", "0"], /--parallel \/ SPILLWAY_PARALLEL/],
    [["--context-size", "lots"], /--context-size \/ SPILLWAY_CONTEXT_SIZE/],
    [["--sha256", "abc"], /--sha256 \/ SPILLWAY_MODEL_SHA256/],
    [["--log-level", "loud"], /--log-level/],
    [["--unknown"], /Unknown option '--unknown'/],
    [["--served-model-names", "a,,b"], /--served-model-names \/ SPILLWAY_SERVED_MODEL_NAMES/],
    [["--served-model-names", "a, b"], /--served-model-names \/ SPILLWAY_SERVED_MODEL_NAMES/],
  ])("rejects %j naming the option", (args, message) => {
    expect(() => loadConfig(["--model", "m", ...args], {})).toThrow(message);
  });

  it("requires a model", () => {
    expect(() => loadConfig([], {})).toThrow(/--model \/ SPILLWAY_MODEL/);
  });

  it("derives the model id from the file name", () => {
    expect(modelIdFor({ model: "s3://b/models/llama-3.gguf" })).toBe("llama-3");
    expect(modelIdFor({ model: "/x/tiny.GGUF", modelId: "custom" })).toBe("custom");
  });
});

describe("thread choice", () => {
  it.each([
    [{ configured: 3, embedding: 4096, cpus: 2 }, 3],
    [{ configured: 0, embedding: 64, cpus: 8 }, 1],
    [{ configured: 0, embedding: 576, cpus: 2 }, 2],
    [{ configured: 0, embedding: 4096, cpus: 1 }, 1],
  ])("%j → %j", (opts, choice) => {
    expect(chooseThreads(opts)).toEqual(choice);
  });
});
