import { describe, expect, it } from "vitest";
import { rfc3339 } from "../../src/api/time.js";

describe("rfc3339", () => {
  it.each([
    [Date.UTC(2026, 0, 2, 3, 4, 5, 678), "2026-01-02T03:04:05Z"],
    [Date.UTC(2026, 0, 2, 3, 4, 5), "2026-01-02T03:04:05Z"],
    [0, "1970-01-01T00:00:00Z"],
  ])("%i → %s (to the second, as the API server writes it)", (ms, want) => {
    expect(rfc3339(ms)).toBe(want);
  });
});
