/**
 * The greedy pick on the GPU: each row's index of its largest value, the first one on ties, so a
 * step that needs only the token reads back one i32 per row instead of the logits. One workgroup
 * per row: its 64 threads scan strided columns, then a fixed tree keeps the larger value (the
 * smaller index on ties). NaNs are never taken (tested by their bits, not by comparisons a
 * compiler may fold), except that a NaN first value gives 0, as the host's scan does.
 *
 * @module
 */

import type { ArgmaxOp } from "../ops.ts";
import { checkShape, gpu, grid, type Plan } from "./plan.ts";
import { BUILTINS, FLAT } from "./wgsl.ts";

const code = () => `
struct P { n: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> out: array<i32>; // [n] the picks
var<workgroup> bestV: array<f32, 64>;
var<workgroup> bestI: array<u32, 64>;
${FLAT}
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
// Whether (v, i) goes before (w, j): a larger value, or the same value at a smaller index.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool { return v > w || (v == w && i < j); }
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = flatGroup(wid, nwg);
  if (row >= p.n) { return; } // uniform: from the workgroup id
  var bv = bitcast<f32>(0xff800000u); // -inf at no index: any value at a real index goes before it
  var bi = 0xffffffffu;
  for (var c = lid; c < p.cols; c += 64u) {
    let v = x[row * p.cols + c];
    if (!isNan(v) && before(v, c, bv, bi)) {
      bv = v;
      bi = c;
    }
  }
  bestV[lid] = bv;
  bestI[lid] = bi;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s && before(bestV[lid + s], bestI[lid + s], bestV[lid], bestI[lid])) {
      bestV[lid] = bestV[lid + s];
      bestI[lid] = bestI[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let none = bestI[0] == 0xffffffffu || isNan(x[row * p.cols]);
    out[row] = select(i32(bestI[0]), 0, none);
  }
}`;

/** `out[i] = argmax(x[i])`: one workgroup per row. */
export function argmaxPlan(op: ArgmaxOp): Plan[] {
  const { x, n } = op;
  checkShape(x, "argmax x", { rows: n });
  checkShape(op.out, "argmax out", { rows: n, dtype: "i32" });
  return [{
    key: "argmax",
    code,
    params: Uint32Array.of(n, x.cols),
    buffers: [gpu(x, "argmax x"), gpu(op.out, "argmax out")],
    dispatch: grid(n),
  }];
}
