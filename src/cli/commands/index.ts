import type { CommandEntry } from "../dispatch.js";

/** The shipped `spillway` command's subcommands. */
export const PRODUCT_COMMANDS: Record<string, CommandEntry> = {
  serve: {
    usage: ["serve --model FILE_OR_URI", "the inference server (see `spillway serve --help`)"],
    load: async () => (await import("../../inference/main.js")).serve,
  },
  smoke: {
    usage: [
      "smoke --cloud C",
      "provision a spot node, serve a model, one chat completion, tear down (see `spillway smoke --help`)",
    ],
    load: async () => (await import("./smoke.js")).run,
  },
  load: {
    usage: [
      "load --url URL",
      "bounded load against an OpenAI-compatible server (see `spillway load --help`)",
    ],
    load: async () => (await import("./load.js")).run,
  },
};
