/**
 * Ops that move rows: embed (token ids → widened or dequantized table rows), gather (chosen rows),
 * scatter (rows to chosen places), copyRows (chosen rows between two tensors of one shape) and slice
 * (a column range of each row). Gather, scatter and copyRows move 32-bit words as they are (f32 or i32).
 *
 * @module
 */

import type { CopyRowsOp, EmbedOp, GatherOp, ScatterOp, SliceOp } from "../ops.ts";
import { checkShape, gpu, type Plan, type PlanContext, threads } from "./plan.ts";
import { rowStride } from "./memory.ts";
import { BUILTINS, FLAT, weightType, widen } from "./wgsl.ts";
import type { WeightDType } from "../types.ts";
import { isQuantized, type QuantFormat } from "../quant.ts";
import { dequant, quantLayout } from "./quant.ts";

const embedCode = (dtype: WeightDType) => () => `
struct P { n: u32, cols: u32, vocab: u32, pairs: u32, stride: u32, rowBase: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> w: array<${
  weightType(dtype)
}>; // [rows][stride] the table's band from rowBase
@group(0) @binding(2) var<storage, read_write> ids: array<i32>; // [n] token ids
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n][cols]
${FLAT}
${widen(dtype)}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.pairs) { return; }
  let t = i / p.pairs;
  let k = i % p.pairs;
  let id = ids[t];
  // The runner checks ids before writing them; a bad one reads as a zero row here (the first band's).
  var v = vec2<f32>(0.0, 0.0);
  if (id >= 0 && u32(id) < p.vocab) {
    if (u32(id) < p.rowBase || u32(id) >= p.rowBase + p.rows) { return; } // another band's row
    v = pair(u32(id) - p.rowBase, k);
  } else if (p.rowBase != 0u) { return; }
  out[t * p.cols + 2u * k] = v.x;
  if (2u * k + 1u < p.cols) { out[t * p.cols + 2u * k + 1u] = v.y; }
}`;

const quantEmbedCode = (format: QuantFormat) => () => `
struct P { n: u32, cols: u32, vocab: u32, words: u32, scaleAt: u32, blocks: u32, rowBase: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> w: array<u32>; // a band from rowBase: [rows][words] packed, then [rows][blocks] f32 scales
@group(0) @binding(2) var<storage, read_write> ids: array<i32>; // [n] token ids
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n][cols]
${FLAT}
${dequant(format)}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.cols) { return; }
  let id = ids[i / p.cols];
  // The runner checks ids before writing them; a bad one reads as a zero row here (the first band's).
  var v = 0.0;
  if (id >= 0 && u32(id) < p.vocab) {
    if (u32(id) < p.rowBase || u32(id) >= p.rowBase + p.rows) { return; } // another band's row
    v = element(u32(id) - p.rowBase, i % p.cols);
  } else if (p.rowBase != 0u) { return; }
  out[i] = v;
}`;

/** `out[t] = table[ids[t]]`: one thread per pair of columns (q8/q4: per column), a dispatch per band. */
export function embedPlan(op: EmbedOp, ctx: PlanContext): Plan[] {
  const { table, n } = op;
  checkShape(op.ids, "embed ids", { rows: n, dtype: "i32" });
  checkShape(op.out, "embed out", { rows: n, cols: table.cols });
  const dtype = table.dtype;
  const bands = ctx.matrix(table).bands;
  const ids = gpu(op.ids, "embed ids"), out = gpu(op.out, "embed out");
  if (isQuantized(dtype)) {
    return bands.map((band) => {
      const { words, scaleAt, blocks } = quantLayout(dtype, band.rows, table.cols);
      return {
        key: `embed_${dtype}`,
        code: quantEmbedCode(dtype),
        params: Uint32Array.of(n, table.cols, table.rows, words, scaleAt, blocks, band.row0, band.rows),
        buffers: [band.buffer, ids, out],
        dispatch: threads(n * table.cols),
      };
    });
  }
  const pairs = Math.ceil(table.cols / 2);
  return bands.map((band) => ({
    key: `embed_${dtype}`,
    code: embedCode(dtype),
    params: Uint32Array.of(
      n,
      table.cols,
      table.rows,
      pairs,
      rowStride(table.cols, dtype),
      band.row0,
      band.rows,
    ),
    buffers: [band.buffer, ids, out],
    dispatch: threads(n * pairs),
  }));
}

const gatherCode = () => `
struct P { n: u32, cols: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<u32>; // [rows][cols] f32 or i32 bits
@group(0) @binding(2) var<storage, read_write> index: array<i32>; // [n] rows of x to take
@group(0) @binding(3) var<storage, read_write> out: array<u32>; // [n][cols] as x
${FLAT}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.cols) { return; }
  let r = i / p.cols;
  let src = u32(clamp(index[r], 0, i32(p.rows) - 1));
  out[i] = x[src * p.cols + i % p.cols];
}`;

/** `out[i] = x[index[i]]`. */
export function gatherPlan(op: GatherOp): Plan[] {
  const { x, n } = op;
  checkShape(op.index, "gather index", { rows: n, dtype: "i32" });
  checkShape(x, "gather x", { rows: 1, dtype: x.dtype });
  checkShape(op.out, "gather out", { rows: n, cols: x.cols, dtype: x.dtype });
  return [{
    key: "gather",
    code: gatherCode,
    params: Uint32Array.of(n, x.cols, x.rows),
    buffers: [gpu(x, "gather x"), gpu(op.index, "gather index"), gpu(op.out, "gather out")],
    dispatch: threads(n * x.cols),
  }];
}

const scatterCode = () => `
struct P { n: u32, cols: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<u32>; // [n][cols] f32 or i32 bits
@group(0) @binding(2) var<storage, read_write> index: array<i32>; // [n] rows of out to write
@group(0) @binding(3) var<storage, read_write> out: array<u32>; // [rows][cols] as x
${FLAT}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.cols) { return; }
  let dst = index[i / p.cols];
  if (dst < 0 || u32(dst) >= p.rows) { return; }
  out[u32(dst) * p.cols + i % p.cols] = x[i];
}`;

/** `out[index[i]] = x[i]`. */
export function scatterPlan(op: ScatterOp): Plan[] {
  const { x, out, n } = op;
  checkShape(op.index, "scatter index", { rows: n, dtype: "i32" });
  checkShape(x, "scatter x", { rows: n, dtype: x.dtype });
  checkShape(out, "scatter out", { rows: 1, cols: x.cols, dtype: x.dtype });
  return [{
    key: "scatter",
    code: scatterCode,
    params: Uint32Array.of(n, x.cols, out.rows),
    buffers: [gpu(x, "scatter x"), gpu(op.index, "scatter index"), gpu(out, "scatter out")],
    dispatch: threads(n * x.cols),
  }];
}

const copyRowsCode = () => `
struct P { n: u32, cols: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<u32>; // [rows][cols] f32 or i32 bits
@group(0) @binding(2) var<storage, read_write> index: array<i32>; // [n] rows to copy
@group(0) @binding(3) var<storage, read_write> out: array<u32>; // [rows][cols] as x
${FLAT}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.cols) { return; }
  let r = index[i / p.cols];
  if (r < 0 || u32(r) >= p.rows) { return; }
  let at = u32(r) * p.cols + i % p.cols;
  out[at] = x[at];
}`;

/** `out[index[i]] = x[index[i]]`. */
export function copyRowsPlan(op: CopyRowsOp): Plan[] {
  const { x, out, n } = op;
  checkShape(op.index, "copyRows index", { rows: n, dtype: "i32" });
  checkShape(x, "copyRows x", { rows: 1, dtype: x.dtype });
  checkShape(out, "copyRows out", { rows: x.rows, cols: x.cols, dtype: x.dtype });
  return [{
    key: "copyRows",
    code: copyRowsCode,
    params: Uint32Array.of(n, x.cols, x.rows),
    buffers: [gpu(x, "copyRows x"), gpu(op.index, "copyRows index"), gpu(out, "copyRows out")],
    dispatch: threads(n * x.cols),
  }];
}

const sliceCode = () => `
struct P { n: u32, cols: u32, srcCols: u32, offset: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][srcCols]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [n][cols]
${FLAT}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.cols) { return; }
  out[i] = x[(i / p.cols) * p.srcCols + p.offset + i % p.cols];
}`;

/** `out[t] = x[t][offset .. offset + out.cols]`. */
export function slicePlan(op: SliceOp): Plan[] {
  const { x, out, n, offset } = op;
  checkShape(x, "slice x", { rows: n });
  checkShape(out, "slice out", { rows: n });
  if (offset < 0 || offset + out.cols > x.cols) {
    throw new RangeError(`Slice ${offset}..${offset + out.cols} is outside a row of ${x.cols}`);
  }
  return [{
    key: "slice",
    code: sliceCode,
    params: Uint32Array.of(n, out.cols, x.cols, offset),
    buffers: [gpu(x, "slice x"), gpu(out, "slice out")],
    dispatch: threads(n * out.cols),
  }];
}
