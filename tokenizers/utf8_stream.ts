/**
 * Streaming detokenization: bytes go in token by token, text comes out only
 * in whole characters. A token that ends inside a multi-byte UTF-8 character
 * leaves its tail in `carry` until the character completes; bytes that can
 * never form a character come out as U+FFFD, as TextDecoder writes them.
 *
 * @module
 */

const decoder = new TextDecoder("utf-8");

/** Bytes of a character whose lead byte is `b`, or 0 for a byte that cannot lead. */
export function sequenceLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/**
 * The index of the first byte of `tail` (a lead byte and continuation bytes) that cannot continue
 * its character, or -1 when the tail can still become a valid one (no overlong forms, surrogates
 * or code points past U+10FFFF).
 */
export function firstInvalidContinuation(tail: ArrayLike<number>): number {
  const lead = tail[0];
  for (let i = 1; i < tail.length; i++) {
    const b = tail[i];
    let lo = 0x80, hi = 0xbf;
    if (i === 1) {
      if (lead === 0xe0) lo = 0xa0;
      else if (lead === 0xed) hi = 0x9f;
      else if (lead === 0xf0) lo = 0x90;
      else if (lead === 0xf4) hi = 0x8f;
    }
    if (b < lo || b > hi) return i;
  }
  return -1;
}

/** Whether `tail` (a lead byte and continuation bytes) can still become a valid character. */
function isValidPrefix(tail: Uint8Array): boolean {
  return firstInvalidContinuation(tail) < 0;
}

/** Decodes `carry + bytes`: the text of every complete character, and the incomplete tail. */
export function decodeStreaming(carry: Uint8Array, bytes: Uint8Array): { text: string; carry: Uint8Array } {
  const all = new Uint8Array(carry.length + bytes.length);
  all.set(carry);
  all.set(bytes, carry.length);
  let cut = all.length;
  for (let back = 1; back <= Math.min(3, all.length); back++) {
    const at = all.length - back;
    const need = sequenceLength(all[at]);
    if (need === 0) continue; // continuation byte (or invalid): keep looking for the lead
    if (need > back && isValidPrefix(all.subarray(at))) cut = at;
    break;
  }
  return { text: decoder.decode(all.subarray(0, cut)), carry: all.slice(cut) };
}

/** Stateful wrapper over {@linkcode decodeStreaming}. */
export class Utf8Stream {
  /** Starts with a carry left by an earlier stream (a restored session), or none. */
  constructor(public carry: Uint8Array = new Uint8Array(0)) {}

  /** Adds a token's bytes; returns the text that is now complete. */
  push(bytes: Uint8Array): string {
    const out = decodeStreaming(this.carry, bytes);
    this.carry = out.carry;
    return out.text;
  }

  /** Ends the stream: an incomplete tail comes out as U+FFFD. */
  flush(): string {
    const text = decoder.decode(this.carry);
    this.carry = new Uint8Array(0);
    return text;
  }
}
