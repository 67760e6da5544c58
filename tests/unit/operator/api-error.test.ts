import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { statusOf } from "../../../src/operator/api-error.js";

describe("statusOf", () => {
  it.each([
    ["the API server's answer", new ApiException(409, "Conflict", {}, {}), 409],
    ["a socket error", Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), undefined],
    ["an object that only looks like one", { code: 404 }, undefined],
    ["a bug", new TypeError("x is undefined"), undefined],
    ["nothing", undefined, undefined],
  ])("%s → %s", (_, err, want) => {
    expect(statusOf(err)).toBe(want);
  });
});
