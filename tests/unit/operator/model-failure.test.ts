import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseTerminationMessage, terminationMessage } from "../../../src/api/server.js";
import { modelFailure } from "../../../src/operator/controller.js";

const pod = (name: string, opts: { ready?: boolean; message?: string; current?: boolean } = {}): V1Pod => {
  const terminated = opts.message === undefined ? undefined : { exitCode: 1, message: opts.message };
  return {
    metadata: { name },
    status: {
      conditions: [{ type: "Ready", status: opts.ready ? "True" : "False" }],
      containerStatuses: [
        {
          name: "server",
          image: "i",
          imageID: "",
          ready: opts.ready ?? false,
          restartCount: 1,
          ...(opts.current
            ? { state: { terminated } }
            : { state: { waiting: { reason: "CrashLoopBackOff" } }, lastState: { terminated } }),
        },
      ],
    },
  };
};

describe("model failures from termination messages", () => {
  it("round-trips a reason and its detail, and ignores text that names no known reason", () => {
    const text = terminationMessage("ModelChecksumMismatch", "expected sha256 a, got b");
    expect(parseTerminationMessage(text)).toEqual({
      reason: "ModelChecksumMismatch",
      message: "expected sha256 a, got b",
    });
    expect(parseTerminationMessage("Error: something else")).toBeUndefined();
    expect(parseTerminationMessage(undefined)).toBeUndefined();
    expect(terminationMessage("ModelLoadFailed", "x".repeat(10_000))).toHaveLength(4096);
  });

  it("reads the last termination of a crash-looping server and skips ready pods", () => {
    const msg = terminationMessage("ModelChecksumMismatch", "checksum mismatch for s3://b/k");
    expect(modelFailure([pod("ok", { ready: true, message: msg }), pod("bad", { message: msg })])).toEqual({
      reason: "ModelChecksumMismatch",
      message: "pod bad: checksum mismatch for s3://b/k",
    });
    expect(modelFailure([pod("now", { message: msg, current: true })])?.reason).toBe("ModelChecksumMismatch");
    expect(modelFailure([pod("oom", { message: "OOMKilled" }), pod("fresh")])).toBeUndefined();
  });
});
