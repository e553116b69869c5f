/**
 * Mamba's selective scan: one thread per (run, channel) keeps the channel's `stateSize` values
 * in registers: h ← exp(A·dt)·h + dt·x·B, y = C·h + D·x; then y ← y·SiLU(z) as a second
 * (element-wise) dispatch.
 *
 * @module
 */

import type { SelectiveScanOp } from "../ops.ts";
import { binaryPlan } from "./elementwise.ts";
import { checkShape, checkState, gpu, type Plan, rowBuffers, threads } from "./plan.ts";
import { BUILTINS, FLAT, RUNS } from "./wgsl.ts";

const code = (size: number) => () => `
struct P { n: u32, channels: u32, arenaCols: u32, offset: u32 }
const N = ${size}u;
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][channels] conv output
@group(0) @binding(2) var<storage, read_write> dt: array<f32>; // [n][channels] step, after softplus
@group(0) @binding(3) var<storage, read_write> a: array<f32>; // [channels][N] A = -exp(A_log)
@group(0) @binding(4) var<storage, read_write> b: array<f32>; // [n][N]
@group(0) @binding(5) var<storage, read_write> c: array<f32>; // [n][N]
@group(0) @binding(6) var<storage, read_write> d: array<f32>; // [channels] skip
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // [n][channels], before the gate
@group(0) @binding(8) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; [channels][N] at offset
@group(0) @binding(9) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(10) var<storage, read_write> first: array<i32>; // [n]
${FLAT}
${RUNS}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * p.channels) { return; }
  let row = id / p.channels;
  if (!startsRun(row)) { return; }
  let ch = id % p.channels;
  let base = slotOf(row) * p.arenaCols + p.offset + ch * N;
  var h: array<f32, N>;
  for (var j = 0u; j < N; j++) { h[j] = arena[base + j]; }
  let end = runEnd(row, p.n);
  for (var t = row; t < end; t++) {
    let o = t * p.channels + ch;
    let step = dt[o];
    let xt = x[o];
    var acc = 0.0;
    for (var j = 0u; j < N; j++) {
      h[j] = exp(a[ch * N + j] * step) * h[j] + step * xt * b[t * N + j];
      acc += h[j] * c[t * N + j];
    }
    y[o] = acc + d[ch] * xt;
  }
  for (var j = 0u; j < N; j++) { arena[base + j] = h[j]; }
}`;

/** The scan (one thread per (row, channel), rows that start a run work), then the gate. */
export function selectiveScanPlan(op: SelectiveScanOp): Plan[] {
  const { n, stateSize: N, state } = op;
  const I = op.x.cols;
  if (!Number.isInteger(N) || N < 1 || N > 256) throw new RangeError(`State size ${N} is outside 1..256`);
  for (const [name, t] of [["x", op.x], ["dt", op.dt], ["z", op.z], ["y", op.y]] as const) {
    checkShape(t, `selectiveScan ${name}`, { rows: n, cols: I });
  }
  checkShape(op.b, "selectiveScan b", { rows: n, cols: N });
  checkShape(op.c, "selectiveScan c", { rows: n, cols: N });
  checkShape(op.a, "selectiveScan a", { rows: 1 });
  if (op.a.rows * op.a.cols !== I * N) throw new RangeError(`selectiveScan a needs ${I * N} values`);
  checkShape(op.d, "selectiveScan d", { rows: 1, cols: I });
  checkState(state, I * N, "selectiveScan state");
  const scan: Plan = {
    key: `selective_scan_n${N}`,
    code: code(N),
    params: Uint32Array.of(n, I, state.arena.cols, state.offset),
    buffers: [
      ...[op.x, op.dt, op.a, op.b, op.c, op.d, op.y].map((t) => gpu(t, "selectiveScan input")),
      gpu(state.arena, "state arena"),
      ...rowBuffers(op.rows, n),
    ],
    dispatch: threads(n * I),
  };
  return [scan, binaryPlan("mulSilu", { a: op.y, b: op.z, out: op.y, n })];
}
