/**
 * Several choices (`n` > 1) of one request: each an independent generation with its own seed
 * stream, interleaved token by token so a streaming client sees them all progress.
 *
 * @module
 */

import { type LogitBias, logitBiasOutside } from "../engine/mod.ts";
import type { LoadedModel } from "../models/mod.ts";
import { ApiError } from "./errors.ts";

/**
 * The seed of choice `index`: the request's seed for the first (so `n: 1` and the first of
 * `n: 3` agree), a 32-bit mix of the seed and the index for the others.
 */
export function choiceSeed(seed: number, index: number): number {
  if (index === 0) return seed;
  let h = Math.imul((seed | 0) ^ Math.imul(index, 0x85ebca6b), 0xc2b2ae35);
  h ^= h >>> 16;
  return (Math.imul(h, 0x27d4eb2d) ^ Math.floor(seed / 4294967296)) >>> 0;
}

/** One event of one choice. */
export interface ChoiceEvent<T> {
  /** The choice's index. */
  readonly index: number;
  /** Its event. */
  readonly value: T;
}

/**
 * The events of every generator, one from each in turn (round robin) until all have ended.
 * Returning early (a client hung up) ends every generator.
 */
export async function* interleave<T>(generators: AsyncGenerator<T>[]): AsyncGenerator<ChoiceEvent<T>> {
  const live = generators.map((g, index) => ({ g, index }));
  try {
    while (live.length > 0) {
      for (let i = 0; i < live.length;) {
        const next = await live[i].g.next();
        if (next.done) {
          live.splice(i, 1);
          continue;
        }
        yield { index: live[i].index, value: next.value };
        i++;
      }
    }
  } finally {
    await Promise.all(generators.map((g) => g.return(undefined)));
  }
}

/** 400 unless every token `logit_bias` names is in the model's vocabulary. */
export function checkLogitBias(loaded: LoadedModel, bias: LogitBias | undefined): void {
  const vocab = loaded.model.info.vocabSize;
  const bad = logitBiasOutside(bias, vocab);
  if (bad !== undefined) {
    throw new ApiError(
      400,
      `logit_bias names token ${bad}, outside the vocabulary (0..${vocab - 1})`,
      "logit_bias",
    );
  }
}
