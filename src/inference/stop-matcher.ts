/**
 * Finds OpenAI `stop` sequences in generated text as it streams. Matching happens on decoded text, not
 * tokens, so a sequence that spans tokens or starts inside one (" out" where the token is "▁out") still
 * stops generation. Text that could be the start of a stop sequence is held back until it is known not
 * to be one, so a streamed response never shows part of a stop sequence.
 */
export class StopMatcher {
  private pending = "";
  private readonly hold: number;
  stopped = false;

  constructor(private readonly stops: readonly string[]) {
    this.hold = Math.max(0, ...stops.map((s) => s.length - 1));
  }

  /** Adds generated text; returns the text that is now safe to emit. */
  push(chunk: string): string {
    if (this.stopped) return "";
    this.pending += chunk;
    let at = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, at);
      this.pending = "";
      return out;
    }
    let safe = this.pending.length - this.hold;
    // Never split a surrogate pair between two emitted chunks.
    if (safe > 0 && isHighSurrogate(this.pending.charCodeAt(safe - 1))) safe--;
    if (safe <= 0) return "";
    const out = this.pending.slice(0, safe);
    this.pending = this.pending.slice(safe);
    return out;
  }

  /** The held-back text, once generation ended without a stop sequence. */
  flush(): string {
    const out = this.stopped ? "" : this.pending;
    this.pending = "";
    return out;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
