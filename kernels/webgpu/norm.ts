/**
 * Layer norm and RMS norm over equal groups of each row, then the optional affine. One
 * workgroup per (row, group); its 64 threads add in a fixed tree (mean first, then the
 * variance around it, as the reference does).
 *
 * @module
 */

import type { NormOp } from "../ops.ts";
import { bits, checkRow, checkShape, gpu, grid, type Plan, type PlanContext } from "./plan.ts";
import { BUILTINS, FLAT } from "./wgsl.ts";

const code = () => `
struct P { n: u32, cols: u32, groups: u32, size: u32, eps: f32, rms: u32, hasWeight: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [n][cols] (may be x)
@group(0) @binding(3) var<storage, read_write> weight: array<f32>; // [cols], or unused
@group(0) @binding(4) var<storage, read_write> bias: array<f32>; // [cols], or unused
var<workgroup> red: array<f32, 64>;
${FLAT}
fn total(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let sum = red[0];
  workgroupBarrier();
  return sum;
}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let g = flatGroup(wid, nwg);
  if (g >= p.n * p.groups) { return; }
  let o = (g / p.groups) * p.cols + (g % p.groups) * p.size;
  let c0 = (g % p.groups) * p.size;
  let size = f32(p.size);
  if (p.rms == 1u) {
    var ss = 0.0;
    for (var i = lid; i < p.size; i += 64u) { ss += x[o + i] * x[o + i]; }
    let inv = 1.0 / sqrt(total(ss, lid) / size + p.eps);
    for (var i = lid; i < p.size; i += 64u) {
      let y = x[o + i] * inv;
      out[o + i] = select(y, weight[c0 + i] * y, p.hasWeight == 1u);
    }
    return;
  }
  var sum = 0.0;
  for (var i = lid; i < p.size; i += 64u) { sum += x[o + i]; }
  let mean = total(sum, lid) / size;
  var dev = 0.0;
  for (var i = lid; i < p.size; i += 64u) {
    let d = x[o + i] - mean;
    dev += d * d;
  }
  let inv = 1.0 / sqrt(total(dev, lid) / size + p.eps);
  for (var i = lid; i < p.size; i += 64u) {
    let y = (x[o + i] - mean) * inv;
    let b = select(0.0, bias[c0 + i], p.hasBias == 1u);
    out[o + i] = select(y, y * weight[c0 + i] + b, p.hasWeight == 1u);
  }
}`;

/** One workgroup per (row, group). */
export function normPlan(op: NormOp, ctx: PlanContext): Plan[] {
  const { x, out, n, groups } = op;
  checkShape(x, "norm x", { rows: n });
  checkShape(out, "norm out", { rows: n, cols: x.cols });
  if (!Number.isInteger(groups) || groups < 1 || x.cols % groups !== 0) {
    throw new RangeError(`A row of ${x.cols} does not split into ${groups} norm groups`);
  }
  if (op.weight) checkRow(op.weight, x.cols, "norm weight");
  if (op.bias) checkRow(op.bias, x.cols, "norm bias");
  const params = Uint32Array.of(
    n,
    x.cols,
    groups,
    x.cols / groups,
    bits(op.eps),
    op.rms ? 1 : 0,
    op.weight ? 1 : 0,
    op.bias && op.weight ? 1 : 0,
  );
  return [{
    key: "norm",
    code,
    params,
    buffers: [
      gpu(x, "norm x"),
      gpu(out, "norm out"),
      op.weight ? gpu(op.weight, "norm weight") : ctx.none,
      op.bias ? gpu(op.bias, "norm bias") : ctx.none,
    ],
    dispatch: grid(n * groups),
  }];
}
