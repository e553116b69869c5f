/**
 * Seeded PRNG (mulberry32): a 32-bit state that advances once per draw, so a
 * generator's position is a single number that can be saved and restored.
 *
 * @module
 */

/** One mulberry32 step: the next state and the uniform draw in [0, 1) it yields. */
export function mulberry32Step(state: number): { state: number; value: number } {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { state: next, value: ((t ^ (t >>> 14)) >>> 0) / 4294967296 };
}

/** A convenience closure over {@linkcode mulberry32Step}, for tests and benchmarks. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    const step = mulberry32Step(state);
    state = step.state;
    return step.value;
  };
}
