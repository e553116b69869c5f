/**
 * A trie over a tokenizer's token byte strings, flattened in preorder so that a
 * node's subtree is the index range `[i, end[i])`: a walk that rejects a byte at
 * node i skips its whole subtree by jumping to `end[i]`. Built once per tokenizer
 * and cached. Tokens with no bytes (special tokens) are left out.
 *
 * @module
 */

/** What the trie needs of a tokenizer. */
export interface TokenSource {
  readonly vocabSize: number;
  tokenBytes(id: number): Uint8Array;
}

/** See the module documentation. Node 0 is the root (no byte). */
export interface TokenTrie {
  /** Number of nodes, root included. */
  readonly size: number;
  /** `[size]` the byte on the edge into each node. */
  readonly byte: Uint8Array;
  /** `[size]` each node's depth (root 0). */
  readonly depth: Uint16Array;
  /** `[size]` one past the last node of each node's subtree. */
  readonly end: Int32Array;
  /** `[size + 1]` the token ids ending at node i are `ids[idStart[i] .. idStart[i + 1])`. */
  readonly idStart: Int32Array;
  /** Token ids, grouped by the node they end at. */
  readonly ids: Int32Array;
  /** The longest token, in bytes. */
  readonly maxDepth: number;
}

interface BuildNode {
  children: Map<number, BuildNode>;
  ids: number[];
}

const cache = new WeakMap<TokenSource, TokenTrie>();

/** The trie of `tokenizer`'s tokens (built on first use, then cached). */
export function tokenTrie(tokenizer: TokenSource): TokenTrie {
  let trie = cache.get(tokenizer);
  if (!trie) {
    trie = buildTokenTrie(tokenizer);
    cache.set(tokenizer, trie);
  }
  return trie;
}

/** Builds the trie (see {@linkcode tokenTrie} for the cached one). */
export function buildTokenTrie(tokenizer: TokenSource): TokenTrie {
  const root: BuildNode = { children: new Map(), ids: [] };
  let count = 1, tokens = 0;
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    const bytes = tokenizer.tokenBytes(id);
    if (bytes.length === 0) continue;
    let node = root;
    for (const b of bytes) {
      let next = node.children.get(b);
      if (!next) {
        next = { children: new Map(), ids: [] };
        node.children.set(b, next);
        count++;
      }
      node = next;
    }
    node.ids.push(id);
    tokens++;
  }
  const byte = new Uint8Array(count), depth = new Uint16Array(count), end = new Int32Array(count);
  const idStart = new Int32Array(count + 1), ids = new Int32Array(tokens);
  let next = 0, nextId = 0, maxDepth = 0;
  const visit = (node: BuildNode, b: number, d: number): void => {
    const i = next++;
    byte[i] = b;
    depth[i] = d;
    maxDepth = Math.max(maxDepth, d);
    idStart[i] = nextId;
    for (const id of node.ids) ids[nextId++] = id;
    for (const [cb, child] of [...node.children].sort((x, y) => x[0] - y[0])) visit(child, cb, d + 1);
    end[i] = next;
  };
  visit(root, 0, 0);
  idStart[count] = nextId;
  return { size: count, byte, depth, end, idStart, ids, maxDepth };
}
