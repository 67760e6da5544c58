import { getLlama, LlamaCompletion, LlamaLogLevel } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { threadsFollowBatch } from "../../../src/inference/batch-threads.js";
import { fixtureModel } from "../../helpers/fixture-model.js";

describe("threads following the batch", () => {
  it("hooks into this node-llama-cpp version and leaves generation unchanged", async () => {
    const llama = await getLlama({ build: "never", gpu: false, logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: fixtureModel() });
    const generate = async (follow: boolean) => {
      const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 2 });
      // Fails when an upgrade moves the internals: the server would silently lose the tuning.
      if (follow) expect(threadsFollowBatch(context)).toBe(true);
      const text = await new LlamaCompletion({ contextSequence: context.getSequence() }).generateCompletion(
        "the model server",
        { maxTokens: 12, temperature: 0 },
      );
      await context.dispose();
      return text;
    };
    expect(await generate(true)).toBe(await generate(false));
    await model.dispose();
  });
});
