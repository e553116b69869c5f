/**
 * `out[t] = w · x[t]` over f32, bf16 or f16 weights (q8 and q4: kernels/webgpu/matmul_quant.ts). One workgroup per output row and tile of
 * TILE tokens: its 64 threads stride over column pairs, each keeping one sum per token, then
 * add their sums in a fixed tree. A token's sum never depends on which tokens share its tile,
 * so a session's numbers are the same batched or alone.
 *
 * @module
 */

import type { MatmulOp } from "../ops.ts";
import { isQuantized } from "../quant.ts";
import type { WeightDType } from "../types.ts";
import { rowStride } from "./memory.ts";
import { quantMatmulPlan } from "./matmul_quant.ts";
import { checkShape, gpu, grid, type Plan, type PlanContext } from "./plan.ts";
import { BUILTINS, FLAT, TILE_SUMS, weightType, widen } from "./wgsl.ts";

/** Tokens per workgroup. */
const TILE = 8;

const code = (dtype: WeightDType) => () => `
struct P { rows: u32, cols: u32, n: u32, stride: u32, pairs: u32, rowBase: u32, outRows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> w: array<${weightType(dtype)}>; // [rows][stride] a band's weights
@group(0) @binding(2) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n][outRows], the band's rows from rowBase
const TILE = ${TILE}u;
var<workgroup> partial: array<f32, ${TILE * 64}>; // [TILE][64]
${FLAT}
${widen(dtype)}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = flatGroup(vec3<u32>(wid.xy, 0u), vec3<u32>(nwg.xy, 1u));
  if (row >= p.rows) { return; }
  let t0 = wid.z * TILE;
  let tokens = min(TILE, p.n - t0); // this tile's tokens (uniform: from the workgroup id)
  var acc: array<f32, TILE>;
  for (var k = lid; k < p.pairs; k += 64u) {
    let wv = pair(row, k);
    let c = 2u * k;
    let odd = c + 1u < p.cols;
    for (var j = 0u; j < tokens; j++) {
      let xo = (t0 + j) * p.cols + c;
      acc[j] += wv.x * x[xo] + select(0.0, wv.y * x[xo + 1u], odd);
    }
  }
${TILE_SUMS}
}`;

/** The matmul's dispatches, one per band: rows × token tiles workgroups. */
export function matmulPlan(op: MatmulOp, ctx: PlanContext): Plan[] {
  const { w, x, out, n } = op;
  const dtype = w.dtype;
  if (isQuantized(dtype)) return quantMatmulPlan(op, ctx);
  checkShape(x, "matmul x", { rows: n, cols: w.cols });
  checkShape(out, "matmul out", { rows: n, cols: w.rows });
  if (x.handle === out.handle) throw new RangeError("matmul cannot write its own input");
  return ctx.matrix(w).bands.map((band) => ({
    key: `matmul_${dtype}`,
    code: code(dtype),
    params: Uint32Array.of(
      band.rows,
      w.cols,
      n,
      rowStride(w.cols, dtype),
      Math.ceil(w.cols / 2),
      band.row0,
      w.rows,
    ),
    buffers: [band.buffer, gpu(x, "matmul x"), gpu(out, "matmul out")],
    dispatch: grid(band.rows, Math.ceil(n / TILE)),
  }));
}
