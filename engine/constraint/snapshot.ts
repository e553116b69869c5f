/**
 * The constraint's automaton state as plain JSON data, for the session state blob:
 * a list of alternatives, each its stack of frames from the top down as
 * `[node, phase, a, b, ws, s]`. Restoring checks every frame against the grammar
 * (a blob may come from a client) and throws a StateFormatError naming the bad one.
 *
 * @module
 */

import { StateFormatError } from "../errors.ts";
import type { Grammar } from "./grammar.ts";
import { MAX_FRAC_DIGITS, MAX_INT_DIGITS } from "./grammar.ts";
import { DONE, type Frame, MAX_ALTERNATIVES, MAX_DEPTH, MAX_WHITESPACE, Phase } from "./json_grammar.ts";
import { isNumberPrefix } from "./number_range.ts";

/** One frame: node, phase, a, b, whitespace count, number text. */
export type FrameTuple = [number, number, number, number, number, string];

/** See the module documentation. */
export interface ConstraintSnapshot {
  /** Each alternative's frames, top first; `[[-1, 0, 0, 0, 0, ""]]` is a complete value. */
  readonly alts: FrameTuple[][];
}

/** Most frames one alternative may hold: nesting depth plus the value frames between levels. */
export const MAX_SNAPSHOT_FRAMES = 2 * MAX_DEPTH + 2;
/** Longest number text a frame holds. */
const MAX_NUMBER_TEXT = MAX_INT_DIGITS + MAX_FRAC_DIGITS + 2;

/** The snapshot of a state. */
export function snapshotFrames(alts: readonly Frame[]): ConstraintSnapshot {
  return {
    alts: alts.map((top) => {
      const frames: FrameTuple[] = [];
      for (let f: Frame | null = top; f; f = f.up) frames.push([f.node, f.phase, f.a, f.b, f.ws, f.s]);
      return frames;
    }),
  };
}

function fail(where: string, problem: string): never {
  throw new StateFormatError(
    `State blob field constraint${where} ${problem}: export the state again and send it unchanged`,
  );
}

/**
 * Checks that `value` has the snapshot's shape (sizes bounded), without a grammar; a state
 * blob's header holds one only while a constrained generation runs.
 */
export function checkSnapshotShape(value: unknown): ConstraintSnapshot {
  const alts = (value as { alts?: unknown } | null)?.alts;
  if (!Array.isArray(alts) || alts.length === 0 || alts.length > MAX_ALTERNATIVES) {
    fail("", `is not {alts: [...]} with 1 to ${MAX_ALTERNATIVES} alternatives`);
  }
  alts.forEach((frames: unknown, i) => {
    if (!Array.isArray(frames) || frames.length === 0 || frames.length > MAX_SNAPSHOT_FRAMES) {
      fail(`.alts[${i}]`, `is not a list of 1 to ${MAX_SNAPSHOT_FRAMES} frames`);
    }
    frames.forEach((t: unknown, k) => {
      const ok = Array.isArray(t) && t.length === 6 && t.slice(0, 5).every(Number.isSafeInteger) &&
        typeof t[5] === "string" && t[5].length <= MAX_NUMBER_TEXT;
      if (!ok) fail(`.alts[${i}][${k}]`, "is not a frame [node, phase, a, b, ws, text]");
    });
  });
  return value as ConstraintSnapshot;
}

/** The automaton state a snapshot holds; StateFormatError unless every frame fits `grammar`. */
export function restoreFrames(grammar: Grammar, snapshot: ConstraintSnapshot): Frame[] {
  checkSnapshotShape(snapshot);
  return snapshot.alts.map((frames, i) => {
    let up: Frame | null = null;
    for (let k = frames.length - 1; k >= 0; k--) {
      const [node, phase, a, b, ws, s] = frames[k];
      const where = `.alts[${i}][${k}]`;
      if (node === -1) {
        if (k !== 0 || frames.length !== 1) fail(where, "is a complete value below another frame");
        return DONE;
      }
      checkFrame(grammar, { up, node, phase, a, b, ws, s }, where, k === frames.length - 1);
      up = { up, node, phase, a, b, ws, s };
    }
    return up!;
  });
}

function checkFrame(g: Grammar, f: Frame, where: string, bottom: boolean): void {
  const n = g.nodes[f.node];
  if (!n) fail(where, `names grammar node ${f.node}, which this response format does not have`);
  if (f.ws < 0 || f.ws > MAX_WHITESPACE) fail(where, `counts ${f.ws} whitespace bytes`);
  if (!bottom && f.up === null) fail(where, "has no frame below it");
  const range = (x: number, lo: number, hi: number, name: string) => {
    if (x < lo || x > hi) fail(where, `has ${name} ${x}, outside ${lo}..${hi}`);
  };
  if (f.phase === Phase.START) return;
  switch (n.kind) {
    case "object":
      if (f.phase < Phase.OBJ_OPEN || f.phase > Phase.OBJ_COMMA) {
        fail(where, `has phase ${f.phase}, not an object's`);
      }
      range(f.a, 0, n.values.length, "property");
      if (f.phase === Phase.OBJ_KEY) range(f.b, 0, n.keys.size - 1, "key node");
      if (f.phase === Phase.OBJ_COLON) range(f.a, 0, n.values.length - 1, "property");
      return;
    case "freeObject":
      if (![Phase.OBJ_OPEN, Phase.OBJ_COLON, Phase.OBJ_AFTER, Phase.OBJ_COMMA].includes(f.phase as 1)) {
        fail(where, `has phase ${f.phase}, not an object's`);
      }
      return;
    case "array":
      if (f.phase !== Phase.ARR_OPEN && f.phase !== Phase.ARR_AFTER) {
        fail(where, `has phase ${f.phase}, not an array's`);
      }
      range(f.a, 0, Math.min(n.max, Number.MAX_SAFE_INTEGER), "item count");
      return;
    case "string":
      if (f.phase < Phase.STR || f.phase > Phase.STR_UTF8) {
        fail(where, `has phase ${f.phase}, not a string's`);
      }
      range(f.a, 0, 3, "UTF-8 bytes left");
      range(f.b, 0, 0xf4, "pending byte");
      return;
    case "number":
      if (f.phase !== Phase.NUM || !isNumberPrefix(f.s, n.fracDigits)) fail(where, "is not a number prefix");
      return;
    case "literal":
      if (f.phase !== Phase.LIT) fail(where, `has phase ${f.phase}, not a literal's`);
      range(f.b, 0, n.trie.size - 1, "literal node");
      return;
    default:
      fail(where, `has phase ${f.phase} on a choice node`);
  }
}
