// The chunked-form cases of tests/webgpu_test.ts: RetNet's retention and Mamba-2's SSD scan over a
// step of many runs, each from its own non-zero state, run by a backend forced to the chunked form
// (kernels/webgpu/chunked.ts) or to the recurrence, against the reference recurrence.
import type { Op, Rows } from "../../kernels/mod.ts";
import type { Built, Inputs } from "./webgpu.ts";
import type { Case } from "./webgpu_op_cases.ts";

/**
 * The chunked form against the recurrence: the same f32 sums in another order (seen: 5e-7 to
 * 2e-6 over these runs, the second submit going on from the first's state).
 */
export const TOL_CHUNKED = 1e-4;

/**
 * Run lengths, each run its own slot: 16-token chunks from each run's start, so runs that are not
 * whole chunks (130, 20, 40, 17), exactly one (16), a run starting on a chunk boundary (the 32 at
 * row 0 and the 130 at row 32), two long runs starting in one block of 16 rows (the 20 and 40 at rows
 * 198 and 218, the 40's first chunk beside the 20's second), and runs of 1, 2 and 3 tokens (left to
 * the recurrence).
 */
export const RUN_LENGTHS = [32, 130, 1, 64, 3, 20, 40, 2, 17, 16];

function runTable(inp: Inputs): { rows: Rows; n: number } {
  const slot = RUN_LENGTHS.flatMap((len, s) => Array<number>(len).fill(s));
  const first = RUN_LENGTHS.flatMap((len) => [1, ...Array<number>(len - 1).fill(0)]);
  return { rows: { slot: inp.ints(slot), first: inp.ints(first) }, n: slot.length };
}

function retention(inp: Inputs): Built {
  // 20 keys: a full and a partial tile of 16; 40 value channels: a full and a partial 32 (outputs).
  const [H, DK, DV] = [2, 20, 40];
  const { rows, n } = runTable(inp);
  const kv = H * DV * DK, arena = inp.random(RUN_LENGTHS.length, kv);
  const [q, k, v, o] = [
    inp.random(n, H * DK),
    inp.random(n, H * DK),
    inp.random(n, H * DV),
    inp.random(n, H * DV),
  ];
  // keep as RetNet's: 0 at a fresh state's first token (the second run's here), else below 1.
  const keepValues = Float32Array.from({ length: n * H }, () => inp.next(0.8, 1));
  keepValues.fill(0, RUN_LENGTHS[0] * H, (RUN_LENGTHS[0] + 1) * H);
  const [keep, add] = [inp.values(n, H, keepValues), inp.random(n, H, 0.1, 1)];
  const state = { arena, offset: 0, size: kv };
  const shape = { heads: H, keyDim: DK, valueDim: DV };
  const ops: Op[] = [{ op: "retention", q, k, v, keep, add, o, ...shape, rows, n, state }];
  return { ops, outputs: { o, arena } };
}

function ssd(inp: Inputs): Built {
  const [H, P, N, G] = [4, 40, 8, 2]; // two heads a group
  const { rows, n } = runTable(inp);
  const size = H * P * N;
  // The state part after 3 other values in each slot's row.
  const arena = inp.random(RUN_LENGTHS.length, size + 3);
  const [x, y, b, c] = [
    inp.random(n, H * P),
    inp.random(n, H * P),
    inp.random(n, G * N),
    inp.random(n, G * N),
  ];
  const [dt, dA, d] = [inp.random(n, H, 0, 0.5), inp.random(n, H, 0.8, 1), inp.random(1, H)];
  const shape = { heads: H, headDim: P, stateSize: N, groups: G };
  const state = { arena, offset: 3, size };
  const ops: Op[] = [{ op: "ssdScan", x, dt, dA, b, c, d, y, ...shape, state, rows, n }];
  return { ops, outputs: { y, arena } };
}

/** The cases, named by their runs. */
export const CHUNKED_CASES: Case[] = [
  [`retention over runs of ${RUN_LENGTHS.join(", ")} tokens`, TOL_CHUNKED, retention],
  [`ssd scan over runs of ${RUN_LENGTHS.join(", ")} tokens`, TOL_CHUNKED, ssd],
];
