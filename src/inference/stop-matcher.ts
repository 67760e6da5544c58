/**
 * Finds OpenAI `stop` sequences in generated text as it streams. Matching happens on decoded text, not
 * tokens, so a sequence that spans tokens or starts inside one (" out" where the token is "▁out") still
 * stops generation. Only text that could still become a stop sequence (an ending that is the beginning
 * of one) is held back, so a streamed response never shows part of a stop sequence and is otherwise not
 * delayed.
 */
export class StopMatcher {
  private pending = "";
  /** The stop sequence found, once one is (Anthropic's `stop_sequence` names it). */
  matched: string | undefined;

  constructor(private readonly stops: readonly string[]) {}

  get stopped(): boolean {
    return this.matched !== undefined;
  }

  /** Length of the longest end of `text` that is the beginning of some stop sequence. */
  private partialMatch(text: string): number {
    let longest = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, text.length); k > longest; k--) {
        if (text.endsWith(s.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }

  /** Adds generated text; returns the text that is now safe to emit. */
  push(chunk: string): string {
    if (this.stopped) return "";
    this.pending += chunk;
    let at = -1;
    let matched: string | undefined;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        matched = s;
      }
    }
    if (matched !== undefined) {
      this.matched = matched;
      const out = this.pending.slice(0, at);
      this.pending = "";
      return out;
    }
    let safe = this.pending.length - this.partialMatch(this.pending);
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
