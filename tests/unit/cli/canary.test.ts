import { expect, it } from "vitest";

// The test runner's own tests (tests/cli) need one real test that fails on demand, to prove that a
// failure reaches the report and the exit code. Everywhere else it passes.
it("canary: fails only when SPILLWAY_CANARY=fail", () => {
  expect(process.env.SPILLWAY_CANARY ?? "pass", "asked to fail by SPILLWAY_CANARY").not.toBe("fail");
});
