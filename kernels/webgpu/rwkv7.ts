/**
 * RWKV-7's per-token mixing around the state update: the decay/in-context mix (one thread per
 * token and head, as the key norm is per head), the value residual (per element) and the
 * output bonus and gate (per token and head).
 *
 * @module
 */

import type { Rwkv7BonusOp, Rwkv7MixOp, Rwkv7ValueOp } from "../ops.ts";
import { checkRow, checkShape, gpu, type Plan, threads } from "./plan.ts";
import { BUILTINS, FLAT, MATH } from "./wgsl.ts";

const mixCode = () => `
struct P { n: u32, cols: u32, heads: u32, size: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> w: array<f32>; // [n][cols] lora out → decay
@group(0) @binding(2) var<storage, read_write> a: array<f32>; // [n][cols] lora out → σ
@group(0) @binding(3) var<storage, read_write> k: array<f32>; // [n][cols] keys, updated
@group(0) @binding(4) var<storage, read_write> kk: array<f32>; // [n][cols] out: -normalized k·kK
@group(0) @binding(5) var<storage, read_write> b: array<f32>; // [n][cols] out: kk·a
@group(0) @binding(6) var<storage, read_write> w0: array<f32>; // [cols]
@group(0) @binding(7) var<storage, read_write> a0: array<f32>; // [cols]
@group(0) @binding(8) var<storage, read_write> kK: array<f32>; // [cols]
@group(0) @binding(9) var<storage, read_write> kA: array<f32>; // [cols]
${FLAT}
${MATH}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * p.heads) { return; }
  let c0 = (id % p.heads) * p.size;
  let o = (id / p.heads) * p.cols + c0;
  var sum = 0.0;
  for (var j = 0u; j < p.size; j++) {
    let i = o + j;
    let c = c0 + j;
    w[i] = exp(-0.606531 * sigmoid(w0[c] + w[i]));
    a[i] = sigmoid(a0[c] + a[i]);
    kk[i] = k[i] * kK[c];
    sum += kk[i] * kk[i];
  }
  let inv = 1.0 / max(sqrt(sum), 1e-12);
  for (var j = 0u; j < p.size; j++) {
    let i = o + j;
    let c = c0 + j;
    let unit = kk[i] * inv;
    k[i] = k[i] * (1.0 + (a[i] - 1.0) * kA[c]);
    b[i] = unit * a[i];
    kk[i] = -unit;
  }
}`;

/** One thread per (token, head). */
export function rwkv7MixPlan(op: Rwkv7MixOp): Plan[] {
  const { n, heads } = op;
  const C = op.w.cols;
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) {
    throw new RangeError(`${C} channels do not split into ${heads} heads`);
  }
  const rowsOf = { w: op.w, a: op.a, k: op.k, kk: op.kk, b: op.b };
  for (const [name, t] of Object.entries(rowsOf)) checkShape(t, `rwkv7Mix ${name}`, { rows: n, cols: C });
  const consts = { w0: op.w0, a0: op.a0, kK: op.kK, kA: op.kA };
  for (const [name, t] of Object.entries(consts)) checkRow(t, C, `rwkv7Mix ${name}`);
  return [{
    key: "rwkv7_mix",
    code: mixCode,
    params: Uint32Array.of(n, C, heads, C / heads),
    buffers: [...Object.entries(rowsOf), ...Object.entries(consts)].map(([name, t]) =>
      gpu(t, `rwkv7Mix ${name}`)
    ),
    dispatch: threads(n * heads),
  }];
}

const valueCode = () => `
struct P { total: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> v: array<f32>; // [n][cols], updated
@group(0) @binding(2) var<storage, read_write> vFirst: array<f32>; // [n][cols]
@group(0) @binding(3) var<storage, read_write> mix: array<f32>; // [n][cols]
@group(0) @binding(4) var<storage, read_write> v0: array<f32>; // [cols]
${FLAT}
${MATH}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.total) { return; }
  v[i] = v[i] + (vFirst[i] - v[i]) * sigmoid(v0[i % p.cols] + mix[i]);
}`;

/** One thread per element. */
export function rwkv7ValuePlan(op: Rwkv7ValueOp): Plan[] {
  const { v, n } = op;
  checkShape(v, "rwkv7Value v", { rows: n });
  checkShape(op.vFirst, "rwkv7Value vFirst", { rows: n, cols: v.cols });
  checkShape(op.mix, "rwkv7Value mix", { rows: n, cols: v.cols });
  checkRow(op.v0, v.cols, "rwkv7Value v0");
  return [{
    key: "rwkv7_value",
    code: valueCode,
    params: Uint32Array.of(n * v.cols, v.cols),
    buffers: [
      gpu(v, "rwkv7Value v"),
      gpu(op.vFirst, "rwkv7Value vFirst"),
      gpu(op.mix, "rwkv7Value mix"),
      gpu(op.v0, "rwkv7Value v0"),
    ],
    dispatch: threads(n * v.cols),
  }];
}

const bonusCode = () => `
struct P { n: u32, cols: u32, heads: u32, size: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> y: array<f32>; // [n][cols], updated
@group(0) @binding(2) var<storage, read_write> r: array<f32>; // [n][cols]
@group(0) @binding(3) var<storage, read_write> k: array<f32>; // [n][cols]
@group(0) @binding(4) var<storage, read_write> v: array<f32>; // [n][cols]
@group(0) @binding(5) var<storage, read_write> g: array<f32>; // [n][cols]
@group(0) @binding(6) var<storage, read_write> rK: array<f32>; // [cols]
${FLAT}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let id = flatThread(wid, nwg, lid);
  if (id >= p.n * p.heads) { return; }
  let c0 = (id % p.heads) * p.size;
  let o = (id / p.heads) * p.cols + c0;
  var bonus = 0.0;
  for (var j = 0u; j < p.size; j++) { bonus += r[o + j] * k[o + j] * rK[c0 + j]; }
  for (var j = 0u; j < p.size; j++) { y[o + j] = (y[o + j] + bonus * v[o + j]) * g[o + j]; }
}`;

/** One thread per (token, head). */
export function rwkv7BonusPlan(op: Rwkv7BonusOp): Plan[] {
  const { y, n, heads } = op;
  const C = y.cols;
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) {
    throw new RangeError(`${C} channels do not split into ${heads} heads`);
  }
  const io = { y, r: op.r, k: op.k, v: op.v, g: op.g };
  for (const [name, t] of Object.entries(io)) checkShape(t, `rwkv7Bonus ${name}`, { rows: n, cols: C });
  checkRow(op.rK, C, "rwkv7Bonus rK");
  return [{
    key: "rwkv7_bonus",
    code: bonusCode,
    params: Uint32Array.of(n, C, heads, C / heads),
    buffers: [...Object.values(io), op.rK].map((t) => gpu(t, "rwkv7Bonus input")),
    dispatch: threads(n * heads),
  }];
}
