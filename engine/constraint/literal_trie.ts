/**
 * A small byte trie over a fixed set of strings (enum values, property names),
 * numbered nodes so an automaton state can hold one as an integer.
 *
 * @module
 */

/** Node 0 is the root; `end[n]` is the index of the string ending at node n, or -1. */
export class LiteralTrie {
  readonly #children: Map<number, number>[] = [new Map()];
  readonly #end: number[] = [-1];
  /** Indices of the strings in each node's subtree, ascending. */
  readonly #below: number[][] = [[]];

  /** A trie over `strings` (UTF-8); string i is marked with index i. */
  constructor(strings: readonly string[]) {
    const enc = new TextEncoder();
    strings.forEach((s, index) => {
      let node = 0;
      this.#below[0].push(index);
      for (const b of enc.encode(s)) {
        let next = this.#children[node].get(b);
        if (next === undefined) {
          next = this.#children.length;
          this.#children.push(new Map());
          this.#end.push(-1);
          this.#below.push([]);
          this.#children[node].set(b, next);
        }
        node = next;
        this.#below[node].push(index);
      }
      this.#end[node] = index;
    });
  }

  /** Number of nodes (valid node ids are 0..size-1). */
  get size(): number {
    return this.#children.length;
  }

  /** The child of `node` along byte `b`, or -1. */
  child(node: number, b: number): number {
    return this.#children[node].get(b) ?? -1;
  }

  /** Whether `node` has any child. */
  hasChildren(node: number): boolean {
    return this.#children[node].size > 0;
  }

  /** Index of the string that ends at `node`, or -1. */
  end(node: number): number {
    return this.#end[node];
  }

  /** Whether some string with index in `lo..hi` passes through `node`. */
  reaches(node: number, lo: number, hi: number): boolean {
    for (const i of this.#below[node]) {
      if (i > hi) return false;
      if (i >= lo) return true;
    }
    return false;
  }
}
