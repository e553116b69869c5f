/**
 * RetNet's position step (one thread per (run, head): scale k, rotate q and k by position ×
 * angle, and the decay factors from the per-head scale s' = γ·s + 1) and the position advance
 * (one thread per run). Sine and cosine are reduced and evaluated here, in f32, so large
 * positions come out as exactly on every GPU.
 *
 * @module
 */

import type { AdvanceOp, RetNetRotateOp } from "../ops.ts";
import { bits, checkRow, checkShape, checkState, gpu, type Plan, rowBuffers, threads } from "./plan.ts";
import { BUILTINS, FLAT, RUNS } from "./wgsl.ts";

/** sin and cos of x: x − k·π/2 in three parts (Cody–Waite), then minimax polynomials on ±π/4. */
const SIN_COS = `
fn sinCos(x: f32) -> vec2<f32> {
  let k = round(x * 0.63661977236758134);
  let r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  let r2 = r * r;
  let s = r + r * r2 * (-1.6666654611e-1 + r2 * (8.3321608736e-3 + r2 * -1.9515295891e-4));
  let c = 1.0 - 0.5 * r2 + r2 * r2 * (4.166664568298827e-2 + r2 * (-1.388731625493765e-3 + r2 * 2.443315711809948e-5));
  switch (i32(k) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}`;

const rotateCode = (keyDim: number) => () => `
struct P { n: u32, heads: u32, arenaCols: u32, position: u32, scale: u32, scaling: f32 }
const DK = ${keyDim}u;
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> q: array<f32>; // [n][heads * DK], rotated in place
@group(0) @binding(2) var<storage, read_write> k: array<f32>; // [n][heads * DK], scaled and rotated
@group(0) @binding(3) var<storage, read_write> keep: array<f32>; // [n][heads] out
@group(0) @binding(4) var<storage, read_write> add: array<f32>; // [n][heads] out
@group(0) @binding(5) var<storage, read_write> angle: array<f32>; // [DK]
@group(0) @binding(6) var<storage, read_write> decay: array<f32>; // [heads] γ
@group(0) @binding(7) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; position [1], scale [heads]
@group(0) @binding(8) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(9) var<storage, read_write> first: array<i32>; // [n]
${FLAT}
${RUNS}
${SIN_COS}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * p.heads) { return; }
  let row = id / p.heads;
  if (!startsRun(row)) { return; }
  let h = id % p.heads;
  let s = slotOf(row) * p.arenaCols;
  let pos0 = arena[s + p.position];
  var scale = arena[s + p.scale + h];
  let gamma = decay[h];
  let end = runEnd(row, p.n);
  for (var t = row; t < end; t++) {
    let pos = pos0 + f32(t - row);
    let o = (t * p.heads + h) * DK;
    for (var j = 0u; j < DK; j += 2u) {
      let a = sinCos(angle[j] * pos);
      let b = sinCos(angle[j + 1u] * pos);
      let q0 = q[o + j];
      let q1 = q[o + j + 1u];
      q[o + j] = q0 * a.y - q1 * a.x;
      q[o + j + 1u] = q1 * b.y + q0 * b.x;
      let k0 = k[o + j] * p.scaling;
      let k1 = k[o + j + 1u] * p.scaling;
      k[o + j] = k0 * a.y - k1 * a.x;
      k[o + j + 1u] = k1 * b.y + k0 * b.x;
    }
    let next = scale * gamma + 1.0;
    keep[t * p.heads + h] = sqrt(scale) * gamma / sqrt(next);
    add[t * p.heads + h] = 1.0 / sqrt(next);
    scale = next;
  }
  arena[s + p.scale + h] = scale;
}`;

/** One thread per (row, head); only rows that start a run work. */
export function retnetRotatePlan(op: RetNetRotateOp): Plan[] {
  const { n, heads: H, q } = op;
  const D = q.cols;
  if (!Number.isInteger(H) || H < 1 || D % H !== 0 || (D / H) % 2 !== 0) {
    throw new RangeError(`${D} channels do not split into ${H} heads of an even size`);
  }
  const DK = D / H;
  checkShape(q, "retnetRotate q", { rows: n });
  checkShape(op.k, "retnetRotate k", { rows: n, cols: D });
  checkShape(op.keep, "retnetRotate keep", { rows: n, cols: H });
  checkShape(op.add, "retnetRotate add", { rows: n, cols: H });
  checkRow(op.angle, DK, "retnetRotate angle");
  checkRow(op.decay, H, "retnetRotate decay");
  checkState(op.position, 1, "retnetRotate position");
  checkState(op.scale, H, "retnetRotate scale");
  if (op.position.arena !== op.scale.arena) throw new RangeError("Position and scale must share one arena");
  return [{
    key: `retnet_rotate_dk${DK}`,
    code: rotateCode(DK),
    params: Uint32Array.of(n, H, op.scale.arena.cols, op.position.offset, op.scale.offset, bits(op.scaling)),
    buffers: [
      ...[q, op.k, op.keep, op.add, op.angle, op.decay].map((t) => gpu(t, "retnetRotate input")),
      gpu(op.scale.arena, "state arena"),
      ...rowBuffers(op.rows, n),
    ],
    dispatch: threads(n * H),
  }];
}

const advanceCode = () => `
struct P { n: u32, arenaCols: u32, position: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; position [1]
@group(0) @binding(2) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(3) var<storage, read_write> first: array<i32>; // [n]
${FLAT}
${RUNS}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = flatThread(wid, nwg, lid);
  if (row >= p.n || !startsRun(row)) { return; }
  let at = slotOf(row) * p.arenaCols + p.position;
  arena[at] += f32(runEnd(row, p.n) - row);
}`;

/** One thread per row; rows that start a run add their run's length. */
export function advancePlan(op: AdvanceOp): Plan[] {
  checkState(op.position, 1, "advance position");
  return [{
    key: "advance",
    code: advanceCode,
    params: Uint32Array.of(op.n, op.position.arena.cols, op.position.offset),
    buffers: [gpu(op.position.arena, "state arena"), ...rowBuffers(op.rows, op.n)],
    dispatch: threads(op.n),
  }];
}
