/**
 * RWKV-4's WKV in its max-tracking stable form: one thread per (run, channel) walks the run's
 * tokens with the slot's (num, den, max).
 *
 * @module
 */

import type { Wkv4Op } from "../ops.ts";
import { checkRow, checkShape, checkState, gpu, type Plan, rowBuffers, threads } from "./plan.ts";
import { BUILTINS, FLAT, RUNS } from "./wgsl.ts";

const code = () => `
struct P { n: u32, cols: u32, arenaCols: u32, num: u32, den: u32, max: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> w: array<f32>; // [cols] -exp(time_decay)
@group(0) @binding(2) var<storage, read_write> u: array<f32>; // [cols] time_first
@group(0) @binding(3) var<storage, read_write> k: array<f32>; // [n][cols]
@group(0) @binding(4) var<storage, read_write> v: array<f32>; // [n][cols]
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // [n][cols]
@group(0) @binding(6) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; [cols] at num, den, max
@group(0) @binding(7) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(8) var<storage, read_write> first: array<i32>; // [n]
${FLAT}
${RUNS}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * p.cols) { return; }
  let row = id / p.cols;
  if (!startsRun(row)) { return; }
  let c = id % p.cols;
  let s = slotOf(row) * p.arenaCols + c;
  var num = arena[s + p.num];
  var den = arena[s + p.den];
  var mx = arena[s + p.max];
  let uc = u[c];
  let wc = w[c];
  let end = runEnd(row, p.n);
  for (var t = row; t < end; t++) {
    let kt = k[t * p.cols + c];
    let vt = v[t * p.cols + c];
    var m = max(mx, kt + uc);
    var e1 = exp(mx - m);
    var e2 = exp(kt + uc - m);
    out[t * p.cols + c] = (e1 * num + e2 * vt) / (e1 * den + e2);
    m = max(mx + wc, kt);
    e1 = exp(mx + wc - m);
    e2 = exp(kt - m);
    num = e1 * num + e2 * vt;
    den = e1 * den + e2;
    mx = m;
  }
  arena[s + p.num] = num;
  arena[s + p.den] = den;
  arena[s + p.max] = mx;
}`;

/** One thread per (row, channel); only rows that start a run work. */
export function wkv4Plan(op: Wkv4Op): Plan[] {
  const { n, k } = op;
  const C = k.cols;
  checkShape(k, "wkv4 k", { rows: n });
  checkShape(op.v, "wkv4 v", { rows: n, cols: C });
  checkShape(op.out, "wkv4 out", { rows: n, cols: C });
  checkRow(op.w, C, "wkv4 w");
  checkRow(op.u, C, "wkv4 u");
  for (const [name, ref] of [["num", op.num], ["den", op.den], ["max", op.max]] as const) {
    checkState(ref, C, `wkv4 ${name}`);
    if (ref.arena !== op.num.arena) throw new RangeError("wkv4's num, den and max must share one arena");
  }
  return [{
    key: "wkv4",
    code,
    params: Uint32Array.of(n, C, op.num.arena.cols, op.num.offset, op.den.offset, op.max.offset),
    buffers: [
      gpu(op.w, "wkv4 w"),
      gpu(op.u, "wkv4 u"),
      gpu(k, "wkv4 k"),
      gpu(op.v, "wkv4 v"),
      gpu(op.out, "wkv4 out"),
      gpu(op.num.arena, "state arena"),
      ...rowBuffers(op.rows, n),
    ],
    dispatch: threads(n * C),
  }];
}
