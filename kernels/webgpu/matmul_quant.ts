/**
 * `out[t] = w · x[t]` over q8 or q4 weights (kernels/webgpu/quant.ts's layout): read as u32 words,
 * dequantized in the shader as the reference dequantizes, multiplied and summed in f32. As the
 * float matmul: one workgroup per output row and tile of TILE tokens, its 64 threads striding over
 * the row's packed words, then a fixed tree over their sums, so a token's sum never depends on which
 * tokens share its tile (batched equals alone, bit for bit).
 *
 * @module
 */

import type { MatmulOp } from "../ops.ts";
import { isQuantized, type QuantFormat } from "../quant.ts";
import { checkShape, gpu, grid, type Plan, type PlanContext } from "./plan.ts";
import { dequant, quantLayout } from "./quant.ts";
import { BUILTINS, FLAT, TILE_SUMS } from "./wgsl.ts";

/** Tokens per workgroup. */
const TILE = 8;

const code = (format: QuantFormat) => () => `
struct P { rows: u32, cols: u32, n: u32, words: u32, scaleAt: u32, blocks: u32, rowBase: u32, outRows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> w: array<u32>; // a band: [rows][words] packed, then [rows][blocks] f32 scales
@group(0) @binding(2) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n][outRows], the band's rows from rowBase
const TILE = ${TILE}u;
const HALVES = ${format === "q8" ? 1 : 2}u; // groups of four weights per packed word
var<workgroup> partial: array<f32, ${TILE * 64}>; // [TILE][64]
${FLAT}
${dequant(format)}
fn xs(at: u32) -> vec4<f32> { return vec4<f32>(x[at], x[at + 1u], x[at + 2u], x[at + 3u]); }
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = flatGroup(vec3<u32>(wid.xy, 0u), vec3<u32>(nwg.xy, 1u));
  if (row >= p.rows) { return; }
  let t0 = wid.z * TILE;
  let tokens = min(TILE, p.n - t0); // this tile's tokens (uniform: from the workgroup id)
  var acc: array<f32, TILE>;
  for (var k = lid; k < p.words; k += 64u) {
    for (var h = 0u; h < HALVES; h++) {
      let wv = quad(row, k, h);
      let c = quadColumn(k, h);
      for (var j = 0u; j < tokens; j++) { acc[j] += dot(wv, xs((t0 + j) * p.cols + c)); }
    }
  }
${TILE_SUMS}
}`;

/** The quantized matmul's dispatches, one per band: rows × token tiles workgroups. */
export function quantMatmulPlan(op: MatmulOp, ctx: PlanContext): Plan[] {
  const { w, x, out, n } = op;
  const format = w.dtype;
  if (!isQuantized(format)) throw new TypeError(`A quantized matmul needs q8 or q4 weights, not ${format}`);
  checkShape(x, "matmul x", { rows: n, cols: w.cols });
  checkShape(out, "matmul out", { rows: n, cols: w.rows });
  if (x.handle === out.handle) throw new RangeError("matmul cannot write its own input");
  return ctx.matrix(w).bands.map((band) => {
    const { words, scaleAt, blocks } = quantLayout(format, band.rows, w.cols);
    return {
      key: `matmul_${format}`,
      code: code(format),
      params: Uint32Array.of(band.rows, w.cols, n, words, scaleAt, blocks, band.row0, w.rows),
      buffers: [band.buffer, gpu(x, "matmul x"), gpu(out, "matmul out")],
      dispatch: grid(band.rows, Math.ceil(n / TILE)),
    };
  });
}
