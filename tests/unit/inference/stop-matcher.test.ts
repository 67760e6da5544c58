import { describe, expect, it } from "vitest";
import { StopMatcher } from "../../../src/inference/stop-matcher.js";

function run(stops: string[], chunks: string[]) {
  const m = new StopMatcher(stops);
  const emitted = chunks.map((c) => m.push(c));
  return { emitted, tail: m.flush(), stopped: m.stopped, matched: m.matched };
}

describe("StopMatcher", () => {
  it.each([
    { name: "no stops passes text through", stops: [], chunks: ["a", "b"], text: "ab" },
    { name: "stop inside one chunk", stops: ["X"], chunks: ["abXcd"], text: "ab", matched: "X" },
    {
      name: "stop spanning chunks",
      stops: [" out"],
      chunks: ["Z", " o", "ut more"],
      text: "Z",
      matched: " out",
    },
    {
      name: "earliest of several stops wins",
      stops: ["cd", "b"],
      chunks: ["abcd"],
      text: "a",
      matched: "b",
    },
    {
      name: "near-miss is released at the end",
      stops: ["xyz"],
      chunks: ["ab", "xy"],
      text: "abxy",
    },
  ] as { name: string; stops: string[]; chunks: string[]; text: string; matched?: string }[])(
    "$name",
    ({ stops, chunks, text, matched }) => {
      const r = run(stops, chunks);
      expect(r.emitted.join("") + r.tail).toBe(text);
      // The stop found is named (the earliest in the text, whichever comes first in the list).
      expect(r.matched).toBe(matched);
      expect(r.stopped).toBe(matched !== undefined);
    },
  );

  it("never emits part of a stop sequence while streaming", () => {
    const m = new StopMatcher(["END"]);
    expect(m.push("abc E")).toBe("abc ");
    expect(m.push("N")).toBe("");
    expect(m.push("x")).toBe("ENx");
    expect(m.push(" EN")).toBe(" ");
    expect(m.push("D!")).toBe("");
    expect(m.stopped).toBe(true);
    expect(m.push("more")).toBe("");
  });

  it("does not split a surrogate pair", () => {
    // The stop begins with the high surrogate of 😀, so the pair's first half could start a match.
    const m = new StopMatcher(["\ud83d\ude01"]);
    const out = m.push("a😀");
    expect(out).toBe("a😀");
    expect(m.push("\ud83d")).toBe("");
    expect(m.flush()).toBe("\ud83d");
  });
});
