import {
  up,
  down,
  AWS_ENDPOINT,
  COMPUTE_ENDPOINT,
  COMPUTE_STAND_IN_URL,
  GCS_ENDPOINT,
} from "../../testbed/emulators.js";
import type { TestProject } from "vitest/node";

/**
 * Starts the AWS emulator (:4566), fake-gcs-server (:4443) and the Compute stand-in (:4480) unless they
 * already run, and stops only the ones it started.
 */
export default async function setup(project: TestProject) {
  const started = await up((l) => {
    console.log(`[emulators] ${l}`);
  });
  project.provide("awsEndpoint", AWS_ENDPOINT);
  project.provide("gcsEndpoint", GCS_ENDPOINT);
  project.provide("computeEndpoint", COMPUTE_ENDPOINT);
  project.provide("computeStandInUrl", COMPUTE_STAND_IN_URL);
  return async () => {
    if (started.length) await down(started);
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    awsEndpoint: string;
    gcsEndpoint: string;
    /** The Compute API root (GcpPoolDriver's `endpoint`). */
    computeEndpoint: string;
    /** The Compute stand-in's own URL: metadata servers and `/spillway-testbed/...` routes. */
    computeStandInUrl: string;
  }
}
