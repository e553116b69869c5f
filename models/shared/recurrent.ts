import type { Backend } from "../../kernels/mod.ts";

/** Runs `tokens` through `runChunk` in chunks of at most `chunk` (RangeError when there are none). */
export function forEachChunk(
  tokens: ArrayLike<number>,
  chunk: number,
  runChunk: (part: number[]) => void,
): void {
  if (tokens.length === 0) throw new RangeError("forward() needs at least one token");
  for (let start = 0; start < tokens.length; start += chunk) {
    runChunk(Array.prototype.slice.call(tokens, start, Math.min(start + chunk, tokens.length)));
  }
}

/** A RangeError unless `id` is a token id below `vocab`. */
export function checkToken(id: number, vocab: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocab) {
    throw new RangeError(`Token id ${id} is outside the vocabulary (0..${vocab - 1})`);
  }
}

/** A copy of `values` in backend memory (kernels read only from there). */
export function toBackend(backend: Backend, values: Float32Array): Float32Array {
  const out = backend.f32(values.length);
  out.set(values);
  return out;
}
