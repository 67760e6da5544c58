import type { LlamaModel, Token } from "node-llama-cpp";

/**
 * A token's text as it appears in the output, and its raw bytes. The text comes from the same
 * detokenization the output does (with the preceding tokens as context, so a sentencepiece model's
 * leading-space rule matches). A token that is only part of a UTF-8 character has no text of its own
 * (alone it detokenizes to U+FFFD, after another such token to nothing); its bytes are read from the
 * vocabulary instead, as llama.cpp renders the piece: a `<0xNN>` byte token (sentencepiece) or a
 * byte-level BPE string (GPT-2 style).
 */
export interface Piece {
  /** The text; for a partial character OpenAI's `bytes:\xNN…` notation. */
  text: string;
  bytes: number[];
}

const REPLACEMENT = "\uFFFD";
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
// GGUF token types (GgufMetadataTokenizerTokenType, a const enum node-llama-cpp does not export).
const CONTROL = 3;
const BYTE = 6;

/** The tokens node-llama-cpp's detokenizer reads as context (its maxRecentDetokenizerTokens). */
export const DETOKENIZER_CONTEXT = 3;

export class TokenPieces {
  private readonly vocab: readonly string[];
  private readonly types: readonly number[];
  private readonly byteLevel: boolean;

  constructor(private readonly model: LlamaModel) {
    const ggml = model.fileInfo.metadata.tokenizer.ggml;
    this.vocab = ggml.tokens;
    // Typed as always there, yet optional in GGUF files.
    this.types = (ggml as { token_type?: readonly number[] }).token_type ?? [];
    this.byteLevel = ggml.model === "gpt2";
  }

  piece(token: Token, previous: readonly Token[]): Piece {
    if (this.types[token] === BYTE) {
      const byte = BYTE_TOKEN.exec(this.vocab[token] ?? "")?.[1];
      if (byte) return fromBytes([parseInt(byte, 16)]);
    }
    const text = this.model.detokenize([token], false, previous.length ? [...previous] : undefined);
    if (this.byteLevel && this.types[token] !== CONTROL && (text === "" || text.includes(REPLACEMENT))) {
      const bytes = byteLevelBytes(this.vocab[token] ?? "");
      if (bytes?.length) return fromBytes(bytes);
    }
    return { text, bytes: [...Buffer.from(text, "utf8")] };
  }
}

function fromBytes(bytes: number[]): Piece {
  const decoded = Buffer.from(bytes).toString("utf8");
  return {
    text: decoded.includes(REPLACEMENT)
      ? `bytes:${bytes.map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}`
      : decoded,
    bytes,
  };
}

function byteLevelBytes(entry: string): number[] | undefined {
  const bytes: number[] = [];
  for (const ch of entry) {
    const b = UNICODE_TO_BYTE.get(ch);
    if (b === undefined) return undefined;
    bytes.push(b);
  }
  return bytes;
}

/** GPT-2's byte-level alphabet reversed: printable bytes stand for themselves, the rest from U+0100 on. */
const UNICODE_TO_BYTE = (() => {
  const map = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map.set(String.fromCodePoint(printable ? b : next++), b);
  }
  return map;
})();
