/**
 * Mamba-2's SSD scan in its chunk-parallel form (chunked.ts), for the runs of at least
 * {@linkcode CHUNK} tokens of a step (a prefill): keep is dA, add is dt, the keys are B and the
 * queries C (shared by a group's heads), the values x. The recurrence's pass, run first, sets a
 * long run's outputs to the D skip (D·x), and the chunks add C·h to them (ten bindings, as many as
 * the device is asked for, where the skip's own would make eleven).
 *
 * @module
 */

import type { SsdScanOp } from "../ops.ts";
import { CHUNK, chunkedPlans, chunkedScratchBytes } from "./chunked.ts";
import { gpu, type Plan, type PlanContext, rowBuffers } from "./plan.ts";

const header = (size: number) => `
struct P { n: u32, heads: u32, valueDim: u32, arenaCols: u32, offset: u32, groups: u32 }
const DK = ${size}u;
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][heads * valueDim]
@group(0) @binding(2) var<storage, read_write> dt: array<f32>; // [n][heads]
@group(0) @binding(3) var<storage, read_write> dA: array<f32>; // [n][heads]
@group(0) @binding(4) var<storage, read_write> b: array<f32>; // [n][groups * DK]
@group(0) @binding(5) var<storage, read_write> c: array<f32>; // [n][groups * DK]
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // [n][heads * valueDim] D·x on a long run's rows
@group(0) @binding(7) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; [heads][valueDim][DK] at offset
@group(0) @binding(8) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(9) var<storage, read_write> first: array<i32>; // [n]
@group(0) @binding(10) var<storage, read_write> scratch: array<f32>; // [2⌈n/C⌉][heads][DK][valueDim] chunk states, then [2⌈n/C⌉][heads] decays
fn groupOf(h: u32) -> u32 { return h / (p.heads / p.groups); }
fn keepOf(t: u32, h: u32) -> f32 { return dA[t * p.heads + h]; }
fn addOf(t: u32, h: u32) -> f32 { return dt[t * p.heads + h]; }
fn qOf(t: u32, h: u32, i: u32) -> f32 { return c[(t * p.groups + groupOf(h)) * DK + i]; }
fn kOf(t: u32, h: u32, i: u32) -> f32 { return b[(t * p.groups + groupOf(h)) * DK + i]; }
fn vOf(t: u32, h: u32, a: u32) -> f32 { return x[(t * p.heads + h) * p.valueDim + a]; }
fn put(t: u32, h: u32, a: u32, value: f32) { y[(t * p.heads + h) * p.valueDim + a] += value; }
`;

/**
 * The chunked passes for the long runs of an op {@linkcode ssdScanPlan} has checked (its
 * recurrence, told to leave them, runs the others); undefined when the step is too short for a
 * chunk or its scratch would exceed the largest binding.
 */
export function ssdChunkedPlans(op: SsdScanOp, ctx: PlanContext): Plan[] | undefined {
  const { n, heads: H, headDim: P, stateSize: N, groups: G, state } = op;
  if (n < CHUNK) return undefined;
  const scratch = ctx.scratch(chunkedScratchBytes(n, H, P * N));
  if (!scratch) return undefined;
  return chunkedPlans({
    key: `ssd_chunked_n${N}`,
    header: header(N),
    params: Uint32Array.of(n, H, P, state.arena.cols, state.offset, G),
    buffers: [
      ...[op.x, op.dt, op.dA, op.b, op.c, op.y].map((t) => gpu(t, "ssdScan input")),
      gpu(state.arena, "state arena"),
      ...rowBuffers(op.rows, n),
      scratch,
    ],
    n,
    heads: H,
    valueDim: P,
    keyDim: N,
  });
}
