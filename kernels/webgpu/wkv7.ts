/**
 * RWKV-7's state update. One thread per (run, head, state row i) keeps the row S[i][0..N) in
 * registers and walks the run's tokens:
 * S[i][j] ← S[i][j]·w[j] + (Σ S[i]·a)·b[j] + v[i]·k[j], y[i] = Σ_j S[i][j]·r[j].
 *
 * @module
 */

import type { Wkv7Op } from "../ops.ts";
import { checkShape, checkState, gpu, type Plan, rowBuffers, threads } from "./plan.ts";
import { BUILTINS, FLAT, RUNS } from "./wgsl.ts";

const code = (size: number) => () => `
struct P { n: u32, cols: u32, arenaCols: u32, offset: u32 }
const N = ${size}u;
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> r: array<f32>; // [n][heads * N]
@group(0) @binding(2) var<storage, read_write> w: array<f32>; // [n][heads * N] decay in (0, 1)
@group(0) @binding(3) var<storage, read_write> k: array<f32>; // [n][heads * N]
@group(0) @binding(4) var<storage, read_write> v: array<f32>; // [n][heads * N]
@group(0) @binding(5) var<storage, read_write> a: array<f32>; // [n][heads * N]
@group(0) @binding(6) var<storage, read_write> b: array<f32>; // [n][heads * N]
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // [n][heads * N]
@group(0) @binding(8) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; [heads][N][N] at offset
@group(0) @binding(9) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(10) var<storage, read_write> first: array<i32>; // [n]
${FLAT}
${RUNS}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * p.cols) { return; }
  let row = id / p.cols;
  if (!startsRun(row)) { return; }
  let hi = id % p.cols; // head * N + i
  let h0 = hi - hi % N; // the head's first channel
  let base = slotOf(row) * p.arenaCols + p.offset + hi * N;
  var s: array<f32, N>;
  for (var j = 0u; j < N; j++) { s[j] = arena[base + j]; }
  let end = runEnd(row, p.n);
  for (var t = row; t < end; t++) {
    let o = t * p.cols + h0;
    var sa = 0.0;
    for (var j = 0u; j < N; j++) { sa += s[j] * a[o + j]; }
    let vi = v[t * p.cols + hi];
    var out = 0.0;
    for (var j = 0u; j < N; j++) {
      s[j] = s[j] * w[o + j] + sa * b[o + j] + vi * k[o + j];
      out += s[j] * r[o + j];
    }
    y[t * p.cols + hi] = out;
  }
  for (var j = 0u; j < N; j++) { arena[base + j] = s[j]; }
}`;

/** One thread per (row, channel); only rows that start a run work. */
export function wkv7Plan(op: Wkv7Op): Plan[] {
  const { n, heads, headSize: N, state } = op;
  const C = heads * N;
  if (!Number.isInteger(N) || N < 1 || N > 256) throw new RangeError(`Head size ${N} is outside 1..256`);
  const io = [op.r, op.w, op.k, op.v, op.a, op.b, op.y];
  const names = ["r", "w", "k", "v", "a", "b", "y"];
  io.forEach((t, i) => checkShape(t, `wkv7 ${names[i]}`, { rows: n, cols: C }));
  checkState(state, heads * N * N, "wkv7 state");
  return [{
    key: `wkv7_n${N}`,
    code: code(N),
    params: Uint32Array.of(n, C, state.arena.cols, state.offset),
    buffers: [
      ...io.map((t, i) => gpu(t, `wkv7 ${names[i]}`)),
      gpu(state.arena, "state arena"),
      ...rowBuffers(op.rows, n),
    ],
    dispatch: threads(n * C),
  }];
}
