/** Turns text into token ids and token ids back into bytes. */
export interface Tokenizer {
  /** Ids run 0..vocabSize-1 (some may be unused). */
  readonly vocabSize: number;
  /** The end-of-text id, if the vocabulary has one. */
  readonly endOfText: number | undefined;
  /** Token ids for `text`. */
  encode(text: string): number[];
  /** The bytes a token stands for (empty for special or unknown ids). */
  tokenBytes(id: number): Uint8Array;
}

/** A vocabulary file that cannot be parsed; the message names the line. */
export class TokenizerLoadError extends Error {
  /** Builds the error; `cause` keeps the underlying failure, if any. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TokenizerLoadError";
  }
}
