/**
 * Mamba-2: the step sizes (dt = clamped softplus, dA = exp(dt·A), one thread per token and
 * head) and the SSD recurrence (one thread per (run, head, channel p) keeping its `stateSize`
 * values in registers, B and C shared by the heads of a group). The chunked form of a prefill's
 * long runs is ssd_chunked.ts.
 *
 * @module
 */

import type { SsdScanOp, SsdStepOp } from "../ops.ts";
import { bits, checkRow, checkShape, checkState, gpu, type Plan, rowBuffers, threads } from "./plan.ts";
import { BUILTINS, FLAT, MATH, RUNS } from "./wgsl.ts";

const stepCode = () => `
struct P { n: u32, heads: u32, srcCols: u32, offset: u32, lo: f32, hi: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> src: array<f32>; // [n][srcCols]; raw dt from offset
@group(0) @binding(2) var<storage, read_write> bias: array<f32>; // [heads]
@group(0) @binding(3) var<storage, read_write> negA: array<f32>; // [heads]
@group(0) @binding(4) var<storage, read_write> dt: array<f32>; // [n][heads]
@group(0) @binding(5) var<storage, read_write> dA: array<f32>; // [n][heads]
${FLAT}
${MATH}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.heads) { return; }
  let h = i % p.heads;
  let step = min(max(softplus(src[(i / p.heads) * p.srcCols + p.offset + h] + bias[h]), p.lo), p.hi);
  dt[i] = step;
  dA[i] = exp(step * negA[h]);
}`;

/** One thread per (token, head). */
export function ssdStepPlan(op: SsdStepOp): Plan[] {
  const { src, n, dt } = op;
  const H = dt.cols;
  checkShape(src, "ssdStep src", { rows: n });
  if (op.offset < 0 || op.offset + H > src.cols) {
    throw new RangeError(`ssdStep columns ${op.offset}..${op.offset + H} are outside a row of ${src.cols}`);
  }
  checkShape(dt, "ssdStep dt", { rows: n });
  checkShape(op.dA, "ssdStep dA", { rows: n, cols: H });
  checkRow(op.bias, H, "ssdStep bias");
  checkRow(op.negA, H, "ssdStep negA");
  // An infinite clamp (HF's default dt_limit) passes through as ±Infinity bits.
  return [{
    key: "ssd_step",
    code: stepCode,
    params: Uint32Array.of(n, H, src.cols, op.offset, bits(op.min), bits(op.max)),
    buffers: [
      gpu(src, "ssdStep src"),
      gpu(op.bias, "ssdStep bias"),
      gpu(op.negA, "ssdStep negA"),
      gpu(dt, "ssdStep dt"),
      gpu(op.dA, "ssdStep dA"),
    ],
    dispatch: threads(n * H),
  }];
}

const scanCode = (size: number) => () => `
struct P { n: u32, heads: u32, headDim: u32, groups: u32, arenaCols: u32, offset: u32, most: u32 }
const N = ${size}u;
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][heads * headDim]
@group(0) @binding(2) var<storage, read_write> dt: array<f32>; // [n][heads]
@group(0) @binding(3) var<storage, read_write> dA: array<f32>; // [n][heads]
@group(0) @binding(4) var<storage, read_write> b: array<f32>; // [n][groups * N]
@group(0) @binding(5) var<storage, read_write> c: array<f32>; // [n][groups * N]
@group(0) @binding(6) var<storage, read_write> d: array<f32>; // [heads] skip
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // [n][heads * headDim]
@group(0) @binding(8) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; [heads][headDim][N] at offset
@group(0) @binding(9) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(10) var<storage, read_write> first: array<i32>; // [n]
${FLAT}
${RUNS}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let cols = p.heads * p.headDim;
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * cols) { return; }
  let row = id / cols;
  if (!startsRun(row)) { return; }
  let hp = id % cols; // head * headDim + p
  let h = hp / p.headDim;
  let g = h / (p.heads / p.groups);
  let base = slotOf(row) * p.arenaCols + p.offset + hp * N;
  var s: array<f32, N>;
  for (var j = 0u; j < N; j++) { s[j] = arena[base + j]; }
  let end = runEnd(row, p.n);
  if (end - row > p.most) {
    // A long run, left to the chunked passes, which add C·h to the D skip written here.
    for (var t = row; t < end; t++) { y[t * cols + hp] = d[h] * x[t * cols + hp]; }
    return;
  }
  for (var t = row; t < end; t++) {
    let step = dt[t * p.heads + h];
    let decay = dA[t * p.heads + h];
    let xt = x[t * cols + hp];
    let bo = (t * p.groups + g) * N;
    var acc = 0.0;
    for (var j = 0u; j < N; j++) {
      s[j] = s[j] * decay + step * xt * b[bo + j];
      acc += s[j] * c[bo + j];
    }
    y[t * cols + hp] = acc + d[h] * xt;
  }
  for (var j = 0u; j < N; j++) { arena[base + j] = s[j]; }
}`;

/**
 * One thread per (row, head, channel); only rows that start a run work, those of a run longer than
 * `most` tokens only writing its D skip (the chunked passes do the rest).
 */
export function ssdScanPlan(op: SsdScanOp, most = op.n): Plan[] {
  const { n, heads: H, headDim: P, stateSize: N, groups: G, state } = op;
  if (!Number.isInteger(N) || N < 1 || N > 256) throw new RangeError(`State size ${N} is outside 1..256`);
  if (!Number.isInteger(G) || G < 1 || H % G !== 0) {
    throw new RangeError(`${H} heads do not split into ${G} groups`);
  }
  checkShape(op.x, "ssdScan x", { rows: n, cols: H * P });
  checkShape(op.y, "ssdScan y", { rows: n, cols: H * P });
  checkShape(op.dt, "ssdScan dt", { rows: n, cols: H });
  checkShape(op.dA, "ssdScan dA", { rows: n, cols: H });
  checkShape(op.b, "ssdScan b", { rows: n, cols: G * N });
  checkShape(op.c, "ssdScan c", { rows: n, cols: G * N });
  checkRow(op.d, H, "ssdScan d");
  checkState(state, H * P * N, "ssdScan state");
  return [{
    key: `ssd_scan_n${N}`,
    code: scanCode(N),
    params: Uint32Array.of(n, H, P, G, state.arena.cols, state.offset, most),
    buffers: [
      ...[op.x, op.dt, op.dA, op.b, op.c, op.d, op.y].map((t) => gpu(t, "ssdScan input")),
      gpu(state.arena, "state arena"),
      ...rowBuffers(op.rows, n),
    ],
    dispatch: threads(n * H * P),
  }];
}
