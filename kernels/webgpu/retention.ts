/**
 * RetNet's recurrent retention: one thread per (run, head, value channel) keeps its row of the
 * kv state (`keyDim` values) in registers: row ← row·keep + k·(v·add), o = q · row. The chunked
 * form of a prefill's long runs is retention_chunked.ts.
 *
 * @module
 */

import type { RetentionOp } from "../ops.ts";
import { checkShape, checkState, gpu, type Plan, rowBuffers, threads } from "./plan.ts";
import { BUILTINS, FLAT, RUNS } from "./wgsl.ts";

/** The retention op's storage bindings 1–9, shared by its recurrent and chunked forms. */
export const RETENTION_BINDINGS = `
@group(0) @binding(1) var<storage, read_write> q: array<f32>; // [n][heads * DK] rotated queries
@group(0) @binding(2) var<storage, read_write> k: array<f32>; // [n][heads * DK] rotated, scaled keys
@group(0) @binding(3) var<storage, read_write> v: array<f32>; // [n][heads * valueDim]
@group(0) @binding(4) var<storage, read_write> keep: array<f32>; // [n][heads]
@group(0) @binding(5) var<storage, read_write> add: array<f32>; // [n][heads]
@group(0) @binding(6) var<storage, read_write> o: array<f32>; // [n][heads * valueDim]
@group(0) @binding(7) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; [heads][valueDim][DK] at offset
@group(0) @binding(8) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(9) var<storage, read_write> first: array<i32>; // [n]`;

const code = (keyDim: number) => () => `
struct P { n: u32, heads: u32, valueDim: u32, arenaCols: u32, offset: u32, most: u32 }
const DK = ${keyDim}u;
@group(0) @binding(0) var<uniform> p: P;
${RETENTION_BINDINGS}
${FLAT}
${RUNS}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let cols = p.heads * p.valueDim;
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * cols) { return; }
  let row = id / cols;
  if (!startsRun(row)) { return; }
  let ha = id % cols; // head * valueDim + a
  let h = ha / p.valueDim;
  let base = slotOf(row) * p.arenaCols + p.offset + ha * DK;
  var s: array<f32, DK>;
  for (var j = 0u; j < DK; j++) { s[j] = arena[base + j]; }
  let end = runEnd(row, p.n);
  if (end - row > p.most) { return; } // a long run, left to the chunked passes
  for (var t = row; t < end; t++) {
    let kp = keep[t * p.heads + h];
    let va = v[t * cols + ha] * add[t * p.heads + h];
    let qo = (t * p.heads + h) * DK;
    var acc = 0.0;
    for (var j = 0u; j < DK; j++) {
      s[j] = s[j] * kp + k[qo + j] * va;
      acc += q[qo + j] * s[j];
    }
    o[t * cols + ha] = acc;
  }
  for (var j = 0u; j < DK; j++) { arena[base + j] = s[j]; }
}`;

/**
 * One thread per (row, head, value channel); only rows that start a run of at most `most` tokens
 * work (longer ones are left to the chunked passes).
 */
export function retentionPlan(op: RetentionOp, most = op.n): Plan[] {
  const { n, heads: H, keyDim: DK, valueDim: DV, state } = op;
  if (!Number.isInteger(DK) || DK < 1 || DK > 256) throw new RangeError(`Key size ${DK} is outside 1..256`);
  checkShape(op.q, "retention q", { rows: n, cols: H * DK });
  checkShape(op.k, "retention k", { rows: n, cols: H * DK });
  checkShape(op.v, "retention v", { rows: n, cols: H * DV });
  checkShape(op.o, "retention o", { rows: n, cols: H * DV });
  checkShape(op.keep, "retention keep", { rows: n, cols: H });
  checkShape(op.add, "retention add", { rows: n, cols: H });
  checkState(state, H * DV * DK, "retention state");
  return [{
    key: `retention_dk${DK}`,
    code: code(DK),
    params: Uint32Array.of(n, H, DV, state.arena.cols, state.offset, most),
    buffers: [
      ...[op.q, op.k, op.v, op.keep, op.add, op.o].map((t) => gpu(t, "retention input")),
      gpu(state.arena, "state arena"),
      ...rowBuffers(op.rows, n),
    ],
    dispatch: threads(n * H * DV),
  }];
}
