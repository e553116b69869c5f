/**
 * Batched decode: total tokens/s of B sessions decoding in one step each, against one session
 * alone on the same model in the same run (the ratio is the batching gain), plus the time to a
 * new session's first token while B - 1 sessions keep decoding, against an idle model's.
 *
 * @module
 */

import type { RecurrentModel } from "../models/mod.ts";

/** One line of the batched-decode table. */
export interface BatchRow {
  readonly sessions: number;
  readonly totalTps: number;
  readonly gain: number;
}

// Median seconds of `steps` decode steps (more for a fast model: ~200 ms) over `sessions` resident slots.
async function decodeSeconds(model: RecurrentModel, sessions: number, steps: number): Promise<number> {
  const vocab = model.info.vocabSize;
  for (let s = 0; s < sessions; s++) model.writeSlot(s, model.newState());
  const t0 = performance.now();
  await model.step(Array.from({ length: sessions }, (_, slot) => ({ slot, tokens: [slot + 1] })));
  // At least ~200 ms of steps (a small model's take well under a millisecond; see side_by_side.ts).
  const count = Math.max(steps, Math.min(2000, Math.ceil(200 / (performance.now() - t0))));
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await model.step(
      Array.from({ length: sessions }, (_, slot) => ({ slot, tokens: [(slot * 31 + i) % vocab] })),
    );
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] / 1000;
}

/** Total decode tokens/s for each session count, and its ratio to one session's. */
export async function benchBatch(
  model: RecurrentModel,
  counts: number[],
  steps: number,
): Promise<BatchRow[]> {
  const one = 1 / await decodeSeconds(model, 1, steps);
  const rows: BatchRow[] = [];
  for (const sessions of counts) {
    const tps = sessions === 1 ? one : sessions / await decodeSeconds(model, sessions, steps);
    rows.push({ sessions, totalTps: tps, gain: tps / one });
  }
  return rows;
}

/**
 * Milliseconds to a new session's first logits (a `prompt`-token prefill) with `busy` sessions
 * decoding in the same steps (prompt pieces share each step's chunk with the decode rows).
 */
export async function firstTokenMs(model: RecurrentModel, prompt: number, busy: number): Promise<number> {
  const vocab = model.info.vocabSize;
  const tokens = Array.from({ length: prompt }, (_, i) => (i * 7 + 3) % vocab);
  const fresh = busy;
  for (let s = 0; s <= busy; s++) model.writeSlot(s, model.newState());
  const t = performance.now();
  let done = 0;
  for (let step = 0; done < prompt; step++) {
    const take = Math.min(model.chunk - busy, prompt - done);
    const rows = Array.from({ length: busy }, (_, slot) => ({ slot, tokens: [(slot + step) % vocab] }));
    await model.step([...rows, { slot: fresh, tokens: tokens.slice(done, done + take) }]);
    done += take;
  }
  return performance.now() - t;
}
