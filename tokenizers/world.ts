import { parsePythonLiteral } from "./python_literal.ts";
import { type Tokenizer, TokenizerLoadError } from "./types.ts";

/** A trie node over bytes; `id` is the token ending here, -1 if none. */
interface TrieNode {
  id: number;
  next: Map<number, TrieNode> | undefined;
}

/**
 * The RWKV World tokenizer: a vocabulary of byte strings, one per line as
 * `id python-literal byte-length`; encoding takes the longest vocabulary entry
 * that matches at each position. Id 0 is end-of-text.
 */
export class WorldTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly endOfText = 0;
  readonly #tokens: Uint8Array[];
  readonly #root: TrieNode = { id: -1, next: undefined };

  /** Parses the text of a World vocabulary file; `file` names it in errors. */
  constructor(text: string, file = "vocabulary") {
    this.#tokens = [];
    const lines = text.split("\n");
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n].replace(/\r$/, "");
      if (line.trim() === "") continue;
      const first = line.indexOf(" ");
      const last = line.lastIndexOf(" ");
      const id = Number(line.slice(0, first));
      const length = Number(line.slice(last + 1));
      if (first < 0 || last <= first || !Number.isInteger(id) || id < 0 || !Number.isInteger(length)) {
        throw new TokenizerLoadError(`${file} line ${n + 1}: expected "id literal length", got ${line}`);
      }
      let bytes: Uint8Array;
      try {
        bytes = parsePythonLiteral(line.slice(first + 1, last));
      } catch (cause) {
        throw new TokenizerLoadError(`${file} line ${n + 1}: ${(cause as Error).message}`, { cause });
      }
      if (bytes.length !== length) {
        throw new TokenizerLoadError(
          `${file} line ${n + 1}: literal is ${bytes.length} bytes, line says ${length}`,
        );
      }
      this.#tokens[id] = bytes;
      this.#insert(bytes, id);
    }
    this.vocabSize = this.#tokens.length;
  }

  #insert(bytes: Uint8Array, id: number) {
    let node = this.#root;
    for (const b of bytes) {
      node.next ??= new Map();
      let child = node.next.get(b);
      if (!child) {
        child = { id: -1, next: undefined };
        node.next.set(b, child);
      }
      node = child;
    }
    node.id = id;
  }

  encode(text: string): number[] {
    return this.encodeBytes(new TextEncoder().encode(text));
  }

  /** Greedy longest match over raw bytes; a byte with no entry at all is an error. */
  encodeBytes(src: Uint8Array): number[] {
    const out: number[] = [];
    let i = 0;
    while (i < src.length) {
      let node: TrieNode | undefined = this.#root;
      let bestId = -1, bestEnd = i;
      for (let j = i; j < src.length && node?.next; j++) {
        node = node.next.get(src[j]);
        if (!node) break;
        if (node.id >= 0) {
          bestId = node.id;
          bestEnd = j + 1;
        }
      }
      if (bestId < 0) throw new RangeError(`Byte 0x${src[i].toString(16)} has no token in this vocabulary`);
      out.push(bestId);
      i = bestEnd;
    }
    return out;
  }

  tokenBytes(id: number): Uint8Array {
    return this.#tokens[id] ?? new Uint8Array(0);
  }
}
