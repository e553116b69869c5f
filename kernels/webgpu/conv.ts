/**
 * Causal depthwise conv + SiLU: one thread per (run, channel) walks its run's tokens, sliding
 * the slot's window of the last `k` inputs (kept in the state, oldest first).
 *
 * @module
 */

import type { CausalConvOp } from "../ops.ts";
import {
  checkRow,
  checkShape,
  checkState,
  gpu,
  type Plan,
  type PlanContext,
  rowBuffers,
  threads,
} from "./plan.ts";
import { BUILTINS, FLAT, MATH, RUNS } from "./wgsl.ts";

const code = (k: number) => () => `
struct P { n: u32, channels: u32, srcCols: u32, offset: u32, arenaCols: u32, stateOffset: u32, hasBias: u32 }
const K = ${k}u;
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> src: array<f32>; // [n][srcCols]; channels from offset
@group(0) @binding(2) var<storage, read_write> weight: array<f32>; // [channels][K]
@group(0) @binding(3) var<storage, read_write> bias: array<f32>; // [channels], or unused
@group(0) @binding(4) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; [channels][K] at stateOffset
@group(0) @binding(5) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(6) var<storage, read_write> first: array<i32>; // [n]
@group(0) @binding(7) var<storage, read_write> out: array<f32>; // [n][channels]
${FLAT}
${RUNS}
${MATH}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.channels) { return; }
  let r = i / p.channels;
  let c = i % p.channels;
  if (!startsRun(r)) { return; }
  let s = slotOf(r) * p.arenaCols + p.stateOffset + c * K;
  var win: array<f32, K>;
  for (var j = 0u; j < K; j++) { win[j] = arena[s + j]; }
  let end = runEnd(r, p.n);
  for (var t = r; t < end; t++) {
    for (var j = 0u; j + 1u < K; j++) { win[j] = win[j + 1u]; }
    win[K - 1u] = src[t * p.srcCols + p.offset + c];
    var acc = select(0.0, bias[c], p.hasBias == 1u);
    for (var j = 0u; j < K; j++) { acc += win[j] * weight[c * K + j]; }
    out[t * p.channels + c] = acc * sigmoid(acc);
  }
  for (var j = 0u; j < K; j++) { arena[s + j] = win[j]; }
}`;

/** One thread per (row, channel); only rows that start a run work. */
export function causalConvPlan(op: CausalConvOp, ctx: PlanContext): Plan[] {
  const { src, channels, k, n, state, rows } = op;
  checkShape(src, "conv src", { rows: n });
  if (op.offset < 0 || op.offset + channels > src.cols) {
    throw new RangeError(
      `Conv channels ${op.offset}..${op.offset + channels} are outside a row of ${src.cols}`,
    );
  }
  if (!Number.isInteger(k) || k < 1 || k > 64) throw new RangeError(`Conv width ${k} is outside 1..64`);
  checkShape(op.weight, "conv weight", { rows: 1 });
  if (op.weight.cols * op.weight.rows !== channels * k) {
    throw new RangeError(
      `Conv weight has ${op.weight.rows * op.weight.cols} values; ${channels * k} expected`,
    );
  }
  if (op.bias) checkRow(op.bias, channels, "conv bias");
  checkState(state, channels * k, "conv state");
  checkShape(op.out, "conv out", { rows: n, cols: channels });
  return [{
    key: `causal_conv_k${k}`,
    code: code(k),
    params: Uint32Array.of(n, channels, src.cols, op.offset, state.arena.cols, state.offset, op.bias ? 1 : 0),
    buffers: [
      gpu(src, "conv src"),
      gpu(op.weight, "conv weight"),
      op.bias ? gpu(op.bias, "conv bias") : ctx.none,
      gpu(state.arena, "state arena"),
      ...rowBuffers(rows, n),
      gpu(op.out, "conv out"),
    ],
    dispatch: threads(n * channels),
  }];
}
