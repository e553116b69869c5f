/**
 * Whole-graph checks on a compiled grammar, so generation never loops or stalls: no anyOf/$ref
 * cycle that writes nothing, and nothing the model could enter but never finish.
 *
 * @module
 */

import { InvalidRequestError } from "../errors.ts";
import type { GrammarNode } from "./grammar.ts";

function fail(message: string): never {
  throw new InvalidRequestError(message, "response_format");
}

/** Refuses an anyOf/$ref that reaches itself before any byte is written (`{"$ref": "#"}` at `#`). */
export function refuseChoiceCycles(nodes: GrammarNode[]): void {
  const state = new Uint8Array(nodes.length); // 0 unseen, 1 on the path, 2 done
  const visit = (i: number): void => {
    if (state[i] === 2) return;
    if (state[i] === 1) {
      fail("The JSON schema refers to itself through anyOf or $ref alone: it never starts a value");
    }
    state[i] = 1;
    const n = nodes[i];
    if (n.kind === "anyOf") n.options.forEach(visit);
    state[i] = 2;
  };
  nodes.forEach((_, i) => visit(i));
}

/**
 * Drops what can never finish (a required property or item that refers back to itself with no
 * way out): anyOf options and array items without a finite instance. Refuses a root without one.
 */
export function pruneUnproductive(nodes: GrammarNode[], root: number): void {
  const ok = new Array<boolean>(nodes.length).fill(false);
  for (let changed = true; changed;) {
    changed = false;
    nodes.forEach((n, i) => {
      if (ok[i]) return;
      let now: boolean;
      if (n.kind === "anyOf") now = n.options.some((o) => ok[o]);
      else if (n.kind === "array") now = n.min === 0 || ok[n.items];
      else if (n.kind === "object") now = n.values.every((v, k) => ok[v] || !isRequiredAt(n, k));
      else now = true;
      if (now) ok[i] = changed = true;
    });
  }
  if (!ok[root]) {
    fail("The JSON schema has no finite instance: a required property or item refers back to itself");
  }
  nodes.forEach((n, i) => {
    if (n.kind === "anyOf") nodes[i] = { ...n, options: n.options.filter((o) => ok[o]) };
    if (n.kind === "array" && !ok[n.items]) nodes[i] = { ...n, max: 0 };
  });
}

function isRequiredAt(n: { lastKey: readonly number[]; canClose: readonly boolean[] }, k: number): boolean {
  return n.lastKey[k] === k && !n.canClose[k];
}
