/**
 * Tokenizers: the RWKV World vocabulary and HF tokenizer.json, behind one
 * interface, plus streaming UTF-8 detokenization. Knows nothing of models.
 *
 * @module
 */

export { HuggingFaceTokenizer } from "./hf.ts";
export { type Tokenizer, TokenizerLoadError } from "./types.ts";
export { decodeStreaming, firstInvalidContinuation, sequenceLength, Utf8Stream } from "./utf8_stream.ts";
export { WorldTokenizer } from "./world.ts";

/** Decodes whole token sequences to text (invalid UTF-8 becomes U+FFFD). */
export function decodeTokens(
  tokenizer: { tokenBytes(id: number): Uint8Array },
  ids: readonly number[],
): string {
  const parts = ids.map((id) => tokenizer.tokenBytes(id));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(all);
}
