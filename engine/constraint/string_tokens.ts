/**
 * Tokens inside a free JSON string, precomputed once per tokenizer. From a string's
 * plain state, whether a token stays valid depends only on its own bytes until an
 * unescaped `"` closes the string; only then does the enclosing grammar matter. So
 * the allowed set is (tokens that stay inside) ∪ (tokens that close it and whose
 * rest the enclosing state takes) — a few hundred automaton runs, not a trie walk
 * over the whole vocabulary.
 *
 * @module
 */

import { DONE, type Frame, Phase, step } from "./json_grammar.ts";
import type { Grammar } from "./grammar.ts";
import type { TokenSource } from "./token_trie.ts";

/** See the module documentation. */
export interface StringTokens {
  /** Bitset of tokens whose bytes are all string content from the plain state. */
  readonly inside: Uint32Array;
  /** Tokens that close the string: their id and the index of the closing quote in their bytes. */
  readonly closers: readonly { readonly id: number; readonly at: number }[];
}

/** A one-node grammar: a lone free string, to run string steps with. */
const STRING_ONLY: Grammar = { nodes: [{ kind: "string" }], root: 0, stringNode: 0, source: "" };
const PLAIN: Frame = { up: null, node: 0, phase: Phase.STR, a: 0, b: 0, ws: 0, s: "" };

const cache = new WeakMap<TokenSource, StringTokens>();

/** The string tokens of `tokenizer` (computed on first use, then cached). */
export function stringTokens(tokenizer: TokenSource): StringTokens {
  let found = cache.get(tokenizer);
  if (!found) {
    found = computeStringTokens(tokenizer);
    cache.set(tokenizer, found);
  }
  return found;
}

function computeStringTokens(tokenizer: TokenSource): StringTokens {
  const inside = new Uint32Array((tokenizer.vocabSize + 31) >>> 5);
  const closers: { id: number; at: number }[] = [];
  const out: Frame[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    const bytes = tokenizer.tokenBytes(id);
    if (bytes.length === 0) continue;
    let f: Frame | undefined = PLAIN;
    for (let i = 0; i < bytes.length; i++) {
      out.length = 0;
      step(STRING_ONLY, f, bytes[i], out);
      f = out[0];
      if (f === undefined) break;
      if (f.node < 0) { // the string closed at byte i
        closers.push({ id, at: i });
        break;
      }
    }
    if (f !== undefined && f.node >= 0) inside[id >>> 5] |= 1 << (id & 31);
  }
  return { inside, closers };
}

/**
 * The allowed-token bitset for a state whose only alternative `top` is a free string in its plain
 * state: the inside tokens, plus each closer whose bytes after the quote the enclosing frames take.
 */
export function stringMask(g: Grammar, top: Frame, tokenizer: TokenSource): Uint32Array {
  const { inside, closers } = stringTokens(tokenizer);
  const bits = inside.slice();
  let alts: Frame[] = [], next: Frame[] = [];
  for (const { id, at } of closers) {
    const bytes = tokenizer.tokenBytes(id);
    alts.length = 0;
    alts.push(top.up ?? DONE);
    for (let i = at + 1; i < bytes.length && alts.length > 0; i++) {
      next.length = 0;
      for (const f of alts) step(g, f, bytes[i], next);
      [alts, next] = [next, alts];
    }
    if (alts.length > 0) bits[id >>> 5] |= 1 << (id & 31);
  }
  return bits;
}
