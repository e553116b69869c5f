/**
 * Constrained decoding for one generation: which tokens keep the output a valid
 * prefix of the grammar's language (found by walking the tokenizer's token trie
 * with the automaton, memoized per automaton state), masking the others out of
 * the logits, and advancing by the chosen token. The automaton state is kept on
 * the session as a {@linkcode ConstraintSnapshot}, so a checkpoint carries it.
 *
 * @module
 */

import type { Grammar } from "./grammar.ts";
import { canEnd, type Frame, initialFrames, MAX_ALTERNATIVES, Phase, step } from "./json_grammar.ts";
import { stringMask } from "./string_tokens.ts";
import { type TokenSource, type TokenTrie, tokenTrie } from "./token_trie.ts";
import { type ConstraintSnapshot, restoreFrames, snapshotFrames } from "./snapshot.ts";

/** Allowed-token bitsets kept per grammar and tokenizer (least recently used dropped first). */
const MASKS_PER_GRAMMAR = 64;

/** Masks memoized by automaton state, per grammar and tokenizer. */
const maskCaches = new WeakMap<Grammar, WeakMap<TokenSource, Map<string, Uint32Array>>>();

function masksFor(grammar: Grammar, tokenizer: TokenSource): Map<string, Uint32Array> {
  let byTokenizer = maskCaches.get(grammar);
  if (!byTokenizer) maskCaches.set(grammar, byTokenizer = new WeakMap());
  let masks = byTokenizer.get(tokenizer);
  if (!masks) byTokenizer.set(tokenizer, masks = new Map());
  return masks;
}

/** A key that tells automaton states apart (equal keys: equal futures). */
function stateKey(alts: readonly Frame[]): string {
  let key = "";
  for (const alt of alts) {
    for (let f: Frame | null = alt; f; f = f.up) key += `${f.node},${f.phase},${f.a},${f.b},${f.ws},${f.s}/`;
    key += ";";
  }
  return key;
}

/** See the module documentation. */
export class JsonConstraint {
  readonly #grammar: Grammar;
  readonly #tokenizer: TokenSource;
  readonly #trie: TokenTrie;
  readonly #eos: number | undefined;
  readonly #masks: Map<string, Uint32Array>;
  #alts: Frame[];
  /** Walk scratch: the alternatives after each depth's byte (made on the first walk). */
  #levels: Frame[][] = [];
  /** What {@linkcode JsonConstraint.mask} returns, reused from step to step. */
  #masked = new Float32Array(0);

  /**
   * A constraint at the start of the output, or at `snapshot` (a resumed generation; StateFormatError
   * if it does not fit the grammar). `eos` is the end-of-text id, allowed once the value is complete
   * (leave it out to never allow it).
   */
  constructor(
    grammar: Grammar,
    tokenizer: TokenSource,
    options: { eos?: number; snapshot?: ConstraintSnapshot } = {},
  ) {
    this.#grammar = grammar;
    this.#tokenizer = tokenizer;
    this.#trie = tokenTrie(tokenizer);
    this.#eos = options.eos;
    this.#masks = masksFor(grammar, tokenizer);
    this.#alts = options.snapshot ? restoreFrames(grammar, options.snapshot) : initialFrames(grammar);
  }

  /** The automaton state, to save with the session. */
  snapshot(): ConstraintSnapshot {
    return snapshotFrames(this.#alts);
  }

  /** Whether the output so far is a whole value (it may stop here). */
  get canEnd(): boolean {
    return this.#alts.some((f) => canEnd(this.#grammar, f));
  }

  /** Whether the output is a whole value that nothing may extend: generation should stop. */
  get complete(): boolean {
    if (!this.canEnd) return false;
    const out: Frame[] = [];
    for (let c = 0; c < 256 && out.length === 0; c++) {
      for (const f of this.#alts) step(this.#grammar, f, c, out);
    }
    return out.length === 0;
  }

  /** Bitset over token ids (bit `id & 31` of word `id >> 5`): the tokens allowed next. */
  allowed(): Uint32Array {
    const key = stateKey(this.#alts);
    let mask = this.#masks.get(key);
    if (mask) {
      this.#masks.delete(key); // move to the most recent end
    } else {
      const top = this.#alts[0];
      const inString = this.#alts.length === 1 && top.phase === Phase.STR &&
        this.#grammar.nodes[top.node]?.kind === "string";
      mask = inString ? stringMask(this.#grammar, top, this.#tokenizer) : this.#walk();
      if (this.#masks.size >= MASKS_PER_GRAMMAR) this.#masks.delete(this.#masks.keys().next().value!);
    }
    this.#masks.set(key, mask);
    return mask;
  }

  /**
   * `logits` with every disallowed token set to -Infinity, or undefined when no token is allowed
   * (the value is complete and end-of-text is not allowed). `logits` is not changed; the array
   * returned is reused by the next call. Throws a ConstraintDeadEndError if the value is not
   * complete and no token of the vocabulary continues it.
   */
  mask(logits: Float32Array): Float32Array | undefined {
    const bits = this.allowed();
    if (this.#masked.length !== logits.length) this.#masked = new Float32Array(logits.length);
    const out = this.#masked.fill(-Infinity);
    let any = false;
    const words = Math.min(bits.length, (logits.length + 31) >>> 5);
    for (let w = 0; w < words; w++) {
      const word = bits[w];
      if (word === 0) continue;
      any = true;
      const base = w << 5, end = Math.min(32, logits.length - base);
      for (let bit = 0; bit < end; bit++) {
        if (word === 0xffffffff || (word >>> bit) & 1) out[base + bit] = logits[base + bit];
      }
    }
    if (this.#eos !== undefined && this.#eos < logits.length && this.canEnd) {
      out[this.#eos] = logits[this.#eos];
      any = true;
    }
    if (!any && !this.canEnd) throw new ConstraintDeadEndError();
    return any ? out : undefined;
  }

  /** Moves past token `id` (end-of-text and byte-less tokens change nothing). Throws if it is not allowed. */
  advance(id: number): void {
    const bytes = this.#tokenizer.tokenBytes(id);
    let alts = this.#alts;
    for (const c of bytes) {
      const next: Frame[] = [];
      for (const f of alts) step(this.#grammar, f, c, next);
      alts = dedupe(next);
      if (alts.length === 0) throw new RangeError(`Token ${id} does not continue the constrained output`);
    }
    this.#alts = alts;
  }

  // Preorder walk of the token trie; the alternatives after node i's byte are kept per depth.
  #walk(): Uint32Array {
    const t = this.#trie, g = this.#grammar;
    if (this.#levels.length === 0) this.#levels = Array.from({ length: t.maxDepth + 1 }, () => []);
    const levels = this.#levels;
    const bits = new Uint32Array((this.#tokenizer.vocabSize + 31) >>> 5);
    levels[0] = this.#alts;
    for (let i = 1; i < t.size;) {
      const d = t.depth[i], c = t.byte[i];
      const from = levels[d - 1], into = levels[d];
      into.length = 0;
      for (let k = 0; k < from.length && into.length < MAX_ALTERNATIVES; k++) step(g, from[k], c, into);
      if (into.length === 0) {
        i = t.end[i];
        continue;
      }
      for (let k = t.idStart[i]; k < t.idStart[i + 1]; k++) bits[t.ids[k] >>> 5] |= 1 << (t.ids[k] & 31);
      i++;
    }
    levels[0] = [];
    return bits;
  }
}

/** No token of the vocabulary continues the output (a vocabulary without some byte the grammar needs). */
export class ConstraintDeadEndError extends Error {
  /** Builds the error. */
  constructor() {
    super("No token of this model's vocabulary can continue the structured output: simplify the schema");
    this.name = "ConstraintDeadEndError";
  }
}

/** Drops alternatives equal to an earlier one; keeps at most {@linkcode MAX_ALTERNATIVES}. */
function dedupe(alts: Frame[]): Frame[] {
  if (alts.length <= 1) return alts;
  const seen = new Set<string>();
  const out: Frame[] = [];
  for (const f of alts) {
    const key = stateKey([f]);
    if (seen.has(key) || out.length >= MAX_ALTERNATIVES) continue;
    seen.add(key);
    out.push(f);
  }
  return out;
}

/**
 * The constraint for a generation on a session: resumed from the session's snapshot if it has one
 * (a generation cut by a crash), else at the start of the output. End-of-text is allowed once the
 * value is complete, unless `ignoreEos`.
 */
export function openConstraint(
  grammar: Grammar,
  tokenizer: TokenSource & { readonly endOfText: number | undefined },
  session: { readonly constraint?: ConstraintSnapshot },
  ignoreEos = false,
): JsonConstraint {
  const eos = ignoreEos ? undefined : tokenizer.endOfText;
  return new JsonConstraint(grammar, tokenizer, { eos, snapshot: session.constraint });
}
