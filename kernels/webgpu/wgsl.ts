/**
 * WGSL pieces several shaders share: the entry point's builtins, the flat thread index over a
 * 2-D grid, the row table's runs, the scalar functions and the widening of packed weights.
 *
 * @module
 */

import type { WeightDType } from "../types.ts";

/** The parameters of `main` every shader here declares. */
export const BUILTINS = `@builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32`;

/** `flatGroup()`: the workgroup's index in a 2-D grid; `flatThread()`: the thread's (64 per group). */
export const FLAT = `
fn flatGroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }
fn flatThread(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 { return flatGroup(wid, nwg) * 64u + lid; }
`;

/**
 * The end of a matmul tile (matmul.ts, matmul_quant.ts): each of the 64 threads' per-token sums
 * `acc` into `partial` ([TILE][64] workgroup memory), a fixed tree over them, and the row's output
 * for each of the tile's `tokens` (from `t0`) into `out` at `rowBase + row` of `outRows`.
 */
export const TILE_SUMS = `
  for (var j = 0u; j < tokens; j++) { partial[j * 64u + lid] = acc[j]; }
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var j = 0u; j < tokens; j++) { partial[j * 64u + lid] += partial[j * 64u + lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid < tokens) { out[(t0 + lid) * p.outRows + p.rowBase + row] = partial[lid * 64u]; }`;

/**
 * Runs of the row table (needs bindings `slot` and `first`, `[n]` i32): row r starts a run when
 * it is row 0 or `first[r]` is 1; the run goes on while the next rows have `first` 0.
 */
export const RUNS = `
fn startsRun(r: u32) -> bool { return r == 0u || first[r] == 1; }
fn runEnd(r: u32, n: u32) -> u32 {
  var e = r + 1u;
  loop {
    if (e >= n || first[e] == 1) { break; }
    e += 1u;
  }
  return e;
}
fn slotOf(r: u32) -> u32 { return u32(slot[r]); }
`;

/** Scalar functions as kernels/cpu/math.ts defines them. */
export const MATH = `
fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn log1pExact(e: f32) -> f32 {
  let u = 1.0 + e;
  if (u == 1.0) { return e; }
  return log(u) * e / (u - 1.0);
}
fn softplus(x: f32) -> f32 {
  if (x > 20.0) { return x; }
  return log1pExact(exp(x));
}
fn erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592)
    * t * exp(-a * a);
  return select(y, -y, x < 0.0);
}
fn gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf(x * 0.7071067811865476)); }
fn tanhSafe(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
`;

/** Bindings of weights as the shader declares them: f32 elements, or u32 words of two 16-bit ones. */
export function weightType(dtype: WeightDType): string {
  return dtype === "f32" ? "f32" : "u32";
}

/**
 * `pair(row, k)`: elements 2k and 2k + 1 of a weight row as f32 (0 past the row's end). Needs the
 * binding `w` and the parameters `p.stride` (elements or words per row) and `p.cols`.
 */
export function widen(dtype: WeightDType): string {
  if (dtype === "f32") {
    return `
fn pair(row: u32, k: u32) -> vec2<f32> {
  let o = row * p.stride + 2u * k;
  return vec2<f32>(w[o], select(0.0, w[o + 1u], 2u * k + 1u < p.cols));
}`;
  }
  if (dtype === "bf16") {
    return `
fn pair(row: u32, k: u32) -> vec2<f32> {
  let u = w[row * p.stride + k];
  return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u));
}`;
  }
  return `
fn half(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); }
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}
fn pair(row: u32, k: u32) -> vec2<f32> {
  let u = w[row * p.stride + k];
  return vec2<f32>(half(u & 0xffffu), half(u >> 16u));
}`;
}
