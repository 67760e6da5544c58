import type { TestProject } from "vitest/node";
import { currentInferenceImage, imageExists, startDockerApi } from "../../testbed/lib/podman.js";

/** Serves podman's Docker API for testcontainers and checks that `npm run image` has run. */
export default async function setup(project: TestProject) {
  const image = currentInferenceImage();
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
