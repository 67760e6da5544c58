import { isRunning, up, down, AWS_ENDPOINT, GCS_ENDPOINT } from "../../testbed/emulators.js";
import type { TestProject } from "vitest/node";

/** Starts the AWS emulator (:4566) and fake-gcs-server (:4443) unless they already run. */
export default async function setup(project: TestProject) {
  const reused = await isRunning();
  await up((l) => {
    console.log(`[emulators] ${l}`);
  });
  project.provide("awsEndpoint", AWS_ENDPOINT);
  project.provide("gcsEndpoint", GCS_ENDPOINT);
  return async () => {
    if (!reused) await down();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    awsEndpoint: string;
    gcsEndpoint: string;
  }
}
