/**
 * A byte-level pushdown automaton for JSON shaped by a {@linkcode Grammar}. A state
 * is a list of alternatives (anyOf may leave several open until a byte tells them
 * apart); each alternative is an immutable stack of {@linkcode Frame}s, so stepping
 * one byte builds new top frames and shares the rest, and a trie walk can branch
 * from any state at no copying cost. Whitespace between tokens is bounded
 * ({@linkcode MAX_WHITESPACE} bytes per gap) and nesting is bounded
 * ({@linkcode MAX_DEPTH}), so a state always stays small.
 *
 * @module
 */

import type { Grammar, NumberNode } from "./grammar.ts";
import type { LiteralTrie } from "./literal_trie.ts";
import { canReachBounds, inBounds, isCompleteNumber, isNumberPrefix } from "./number_range.ts";

/** Most whitespace bytes between two JSON tokens: `", "`, `": "` or a newline and a 2-space indent fit. */
export const MAX_WHITESPACE = 4;
/** Deepest nesting of objects and arrays. */
export const MAX_DEPTH = 64;
/** Most alternatives a state keeps (dropping some only narrows what may be written). */
export const MAX_ALTERNATIVES = 32;

/**
 * One level of the stack. `up` is where to continue once this value is complete (already in its
 * after-value phase); null at the top. The meaning of `a`, `b` and `s` depends on the node and phase.
 */
export interface Frame {
  readonly up: Frame | null;
  /** Grammar node id; -1: the whole value is complete. */
  readonly node: number;
  readonly phase: number;
  readonly a: number;
  readonly b: number;
  /** Whitespace bytes in the current gap. */
  readonly ws: number;
  /** Number text so far (numbers only). */
  readonly s: string;
}

/** Phases. START: the value has not begun (any node). */
export const Phase = {
  START: 0,
  /** Object: after `{` (a: next property). */
  OBJ_OPEN: 1,
  /** Object: inside a listed key (a: first allowed property, b: key-trie node). */
  OBJ_KEY: 2,
  /** Object: after a key (a: its property index). */
  OBJ_COLON: 3,
  /** Object: after a value (a: next property). */
  OBJ_AFTER: 4,
  /** Object: after `,` (a: next property). */
  OBJ_COMMA: 5,
  /** Array: after `[`. */
  ARR_OPEN: 6,
  /** Array: after an item (a: items so far). */
  ARR_AFTER: 7,
  /** String: plain characters. */
  STR: 8,
  /** String: after a backslash. */
  STR_ESCAPE: 9,
  /** String: in `\u` (b: hex digits left). */
  STR_HEX: 10,
  /** String: in a multi-byte character (a: bytes left, b: its lead byte while the second is due). */
  STR_UTF8: 11,
  /** Number: digits so far in `s`. */
  NUM: 12,
  /** Literal: b is the literal-trie node. */
  LIT: 13,
} as const;

/** The state after a complete value. */
export const DONE: Frame = { up: null, node: -1, phase: 0, a: 0, b: 0, ws: 0, s: "" };

const SP = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d;
const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d;

function isWhitespace(c: number): boolean {
  return c === SP || c === LF || c === TAB || c === CR;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function frame(up: Frame | null, node: number, phase: number, a = 0, b = 0, s = ""): Frame {
  return { up, node, phase, a, b, ws: 0, s };
}

function withWhitespace(f: Frame): Frame | undefined {
  return f.ws < MAX_WHITESPACE ? { ...f, ws: f.ws + 1 } : undefined;
}

function depthOf(f: Frame | null): number {
  let d = 0;
  for (; f; f = f.up) d++;
  return d;
}

/** The state before any byte: one value of the grammar's root. */
export function initialFrames(g: Grammar): Frame[] {
  return [frame(null, g.root, Phase.START)];
}

/** Pushes onto `out` every frame `f` can become by reading byte `c` (none: `c` is not allowed). */
export function step(g: Grammar, f: Frame, c: number, out: Frame[]): void {
  if (f.node < 0) return;
  if (f.phase === Phase.START) {
    if (isWhitespace(c)) {
      const w = withWhitespace(f);
      if (w) out.push(w);
    } else begin(g, f.node, f.up, c, out);
    return;
  }
  const n = g.nodes[f.node];
  switch (n.kind) {
    case "object":
    case "freeObject":
      return objectStep(g, f, c, out);
    case "array":
      return arrayStep(g, f, c, out);
    case "string":
      return stringStep(f, c, out);
    case "number":
      return numberStep(g, n, f, c, out);
    case "literal": {
      const child = n.trie.child(f.b, c);
      if (child >= 0) literalAt(n.trie, f.up, f.node, child, out);
      else if (n.trie.end(f.b) >= 0) finishAndStep(g, f.up, c, out);
      return;
    }
    case "anyOf":
      return;
  }
}

/** The first byte `c` of a value of `node` that continues with `up`. */
function begin(g: Grammar, node: number, up: Frame | null, c: number, out: Frame[]): void {
  const n = g.nodes[node];
  switch (n.kind) {
    case "anyOf":
      for (const o of n.options) begin(g, o, up, c, out);
      return;
    case "object":
    case "freeObject":
      if (c === LBRACE && depthOf(up) < MAX_DEPTH) out.push(frame(up, node, Phase.OBJ_OPEN));
      return;
    case "array":
      if (c === LBRACKET && depthOf(up) < MAX_DEPTH) out.push(frame(up, node, Phase.ARR_OPEN));
      return;
    case "string":
      if (c === QUOTE) out.push(frame(up, node, Phase.STR));
      return;
    case "number":
      return numberStep(g, n, frame(up, node, Phase.NUM), c, out);
    case "literal": {
      const child = n.trie.child(0, c);
      if (child >= 0) literalAt(n.trie, up, node, child, out);
      return;
    }
  }
}

/** A literal at trie node `at`: finished at once when nothing can follow (`"a"`, `true`), else open. */
function literalAt(trie: LiteralTrie, up: Frame | null, node: number, at: number, out: Frame[]): void {
  if (trie.end(at) >= 0 && !trie.hasChildren(at)) finish(up, out);
  else out.push(frame(up, node, Phase.LIT, 0, at));
}

/** A value ended with the byte just read: continue with `up`. */
function finish(up: Frame | null, out: Frame[]): void {
  out.push(up ?? DONE);
}

/** A value (number, literal) ended before byte `c`, which belongs to `up`. */
function finishAndStep(g: Grammar, up: Frame | null, c: number, out: Frame[]): void {
  if (up) step(g, up, c, out);
}

function objectStep(g: Grammar, f: Frame, c: number, out: Frame[]): void {
  const n = g.nodes[f.node];
  const listed = n.kind === "object" ? n : undefined;
  const ws = () => {
    const w = withWhitespace(f);
    if (w) out.push(w);
  };
  const startKey = () => {
    if (listed) out.push(frame(f.up, f.node, Phase.OBJ_KEY, f.a, 0));
    else out.push(frame(frame(f.up, f.node, Phase.OBJ_COLON), g.stringNode, Phase.STR));
  };
  switch (f.phase) {
    case Phase.OBJ_OPEN:
    case Phase.OBJ_AFTER:
      if (isWhitespace(c)) return ws();
      if (c === RBRACE) {
        if (!listed || listed.canClose[f.a]) finish(f.up, out);
      } else if (f.phase === Phase.OBJ_OPEN && c === QUOTE) {
        if (!listed || f.a < listed.values.length) startKey();
      } else if (f.phase === Phase.OBJ_AFTER && c === COMMA) {
        if (!listed || f.a < listed.values.length) out.push(frame(f.up, f.node, Phase.OBJ_COMMA, f.a));
      }
      return;
    case Phase.OBJ_COMMA:
      if (isWhitespace(c)) return ws();
      if (c === QUOTE) startKey();
      return;
    case Phase.OBJ_KEY: {
      const keys = listed!.keys;
      const child = keys.child(f.b, c);
      if (child < 0 || !keys.reaches(child, f.a, listed!.lastKey[f.a])) return;
      const index = keys.end(child);
      out.push(index >= 0 ? frame(f.up, f.node, Phase.OBJ_COLON, index) : { ...f, b: child });
      return;
    }
    case Phase.OBJ_COLON:
      if (isWhitespace(c)) return ws();
      if (c === COLON) {
        const value = listed ? listed.values[f.a] : (n as { value: number }).value;
        const after = frame(f.up, f.node, Phase.OBJ_AFTER, listed ? f.a + 1 : 0);
        out.push(frame(after, value, Phase.START));
      }
      return;
  }
}

function arrayStep(g: Grammar, f: Frame, c: number, out: Frame[]): void {
  const n = g.nodes[f.node];
  if (n.kind !== "array") return;
  if (isWhitespace(c)) {
    const w = withWhitespace(f);
    if (w) out.push(w);
    return;
  }
  const count = f.phase === Phase.ARR_OPEN ? 0 : f.a;
  if (c === RBRACKET) {
    if (count >= n.min) finish(f.up, out);
    return;
  }
  if (count >= n.max) return;
  const after = frame(f.up, f.node, Phase.ARR_AFTER, count + 1);
  if (f.phase === Phase.ARR_OPEN) begin(g, n.items, after, c, out);
  else if (c === COMMA) out.push(frame(after, n.items, Phase.START));
}

function stringStep(f: Frame, c: number, out: Frame[]): void {
  switch (f.phase) {
    case Phase.STR:
      if (c === QUOTE) return finish(f.up, out);
      if (c === BACKSLASH) return void out.push({ ...f, phase: Phase.STR_ESCAPE });
      if (c < 0x20) return;
      if (c < 0x80) return void out.push(f);
      if (c >= 0xc2 && c <= 0xdf) return void out.push({ ...f, phase: Phase.STR_UTF8, a: 1, b: c });
      if (c >= 0xe0 && c <= 0xef) return void out.push({ ...f, phase: Phase.STR_UTF8, a: 2, b: c });
      if (c >= 0xf0 && c <= 0xf4) return void out.push({ ...f, phase: Phase.STR_UTF8, a: 3, b: c });
      return;
    case Phase.STR_ESCAPE:
      if (c === 0x75) return void out.push({ ...f, phase: Phase.STR_HEX, b: 4 });
      // " \ / b f n r t
      if ([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(c)) out.push({ ...f, phase: Phase.STR });
      return;
    case Phase.STR_HEX:
      if (!isHex(c)) return;
      out.push(f.b === 1 ? { ...f, phase: Phase.STR, b: 0 } : { ...f, b: f.b - 1 });
      return;
    case Phase.STR_UTF8: {
      let lo = 0x80, hi = 0xbf;
      if (f.b === 0xe0) lo = 0xa0;
      else if (f.b === 0xed) hi = 0x9f;
      else if (f.b === 0xf0) lo = 0x90;
      else if (f.b === 0xf4) hi = 0x8f;
      if (c < lo || c > hi) return;
      out.push(f.a === 1 ? { ...f, phase: Phase.STR, a: 0, b: 0 } : { ...f, a: f.a - 1, b: 0 });
      return;
    }
  }
}

/** Whether a number frame holds a complete number within its bounds. */
export function numberComplete(n: NumberNode, f: Frame): boolean {
  return isCompleteNumber(f.s) && inBounds(f.s, n.fracDigits, n);
}

function numberStep(g: Grammar, n: NumberNode, f: Frame, c: number, out: Frame[]): void {
  if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e) {
    const s = f.s + String.fromCharCode(c);
    if (isNumberPrefix(s, n.fracDigits) && canReachBounds(s, n.fracDigits, n)) out.push({ ...f, s });
    return;
  }
  if (numberComplete(n, f)) finishAndStep(g, f.up, c, out);
}

/** Whether the output may end in state `f`: the value is complete (or a top-level number or literal could stop here). */
export function canEnd(g: Grammar, f: Frame): boolean {
  if (f.node < 0) return true;
  if (f.up !== null) return false;
  const n = g.nodes[f.node];
  if (n.kind === "number" && f.phase === Phase.NUM) return numberComplete(n, f);
  if (n.kind === "literal" && f.phase === Phase.LIT) return n.trie.end(f.b) >= 0;
  return false;
}
