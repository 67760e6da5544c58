import { readFileSync } from "node:fs";
import type { TestProject } from "vitest/node";
import { imageExists, inferenceImage, startDockerApi } from "../../src/cli/lib/podman.js";
import { repoRoot } from "../../src/cli/lib/paths.js";

/** Serves podman's Docker API for testcontainers and checks that `npm run image` has run. */
export default async function setup(project: TestProject) {
  const { version } = JSON.parse(readFileSync(`${repoRoot}/package.json`, "utf8")) as { version: string };
  const image = inferenceImage(version);
  if (!(await imageExists(image))) {
    throw new Error(`image ${image} is missing; build it with \`npm run image\``);
  }
  const api = await startDockerApi();
  project.provide("dockerHost", api.dockerHost);
  project.provide("inferenceImage", image);
  return api.stop;
}

declare module "vitest" {
  export interface ProvidedContext {
    dockerHost: string;
    inferenceImage: string;
  }
}
