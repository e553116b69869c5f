import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { type Tokenizer, TokenizerLoadError } from "./types.ts";

// GPT-2's byte-level alphabet: each byte is written as one printable code point.
function byteLevelDecoder(): Map<string, number> {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = bytes.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + n++);
    }
  }
  return new Map(bytes.map((b, i) => [String.fromCodePoint(chars[i]), b]));
}

interface TokenizerJson {
  model?: { vocab?: Record<string, number> | [string, number][] };
  decoder?: { type?: string };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

/**
 * An HF `tokenizer.json` (BPE, WordPiece, Unigram…) through @huggingface/tokenizers,
 * offline. Token bytes come from the byte-level alphabet when the decoder is
 * ByteLevel (GPT-2, GPT-NeoX), else from the token's decoded text.
 */
export class HuggingFaceTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly endOfText: number | undefined;
  readonly #hf: HfTokenizer;
  readonly #bytes: Uint8Array[] = [];

  /** Builds from the parsed tokenizer.json (and tokenizer_config.json, if any). */
  constructor(json: unknown, config: Record<string, unknown> = {}) {
    const j = json as TokenizerJson;
    if (typeof j !== "object" || j === null || !j.model) {
      throw new TokenizerLoadError("tokenizer.json has no model section");
    }
    this.#hf = new HfTokenizer(json as Record<string, unknown>, config);
    const vocab = Array.isArray(j.model.vocab)
      ? j.model.vocab.map(([piece], i) => [piece, i] as [string, number])
      : Object.entries(j.model.vocab ?? {});
    const byteLevel = j.decoder?.type === "ByteLevel" ? byteLevelDecoder() : undefined;
    const enc = new TextEncoder();
    const special = new Set((j.added_tokens ?? []).filter((t) => t.special).map((t) => t.id));
    let size = 0;
    for (const [piece, id] of vocab) {
      size = Math.max(size, id + 1);
      if (special.has(id)) continue;
      this.#bytes[id] = byteLevel
        ? Uint8Array.from([...piece].map((ch) => byteLevel.get(ch) ?? 0x3f))
        : enc.encode(this.#hf.decode([id]));
    }
    for (const t of j.added_tokens ?? []) {
      size = Math.max(size, t.id + 1);
      if (!t.special) this.#bytes[t.id] = enc.encode(t.content);
    }
    this.vocabSize = size;
    const eos = (j.added_tokens ?? []).find((t) => /^<\|?(endoftext|eos)\|?>$|^<\/s>$/.test(t.content));
    this.endOfText = eos?.id;
  }

  encode(text: string): number[] {
    return this.#hf.encode(text, { add_special_tokens: false }).ids;
  }

  tokenBytes(id: number): Uint8Array {
    return this.#bytes[id] ?? new Uint8Array(0);
  }
}
