/**
 * RetNet's retention in its chunk-parallel form (chunked.ts), for the runs of at least
 * {@linkcode CHUNK} tokens of a step (a prefill): keep and add are the recurrence's per-token
 * factors, q and k the rotated queries and keys.
 *
 * @module
 */

import type { RetentionOp } from "../ops.ts";
import { CHUNK, chunkedPlans, chunkedScratchBytes } from "./chunked.ts";
import { gpu, type Plan, type PlanContext, rowBuffers } from "./plan.ts";
import { RETENTION_BINDINGS } from "./retention.ts";

const header = (keyDim: number) => `
struct P { n: u32, heads: u32, valueDim: u32, arenaCols: u32, offset: u32 }
const DK = ${keyDim}u;
@group(0) @binding(0) var<uniform> p: P;
${RETENTION_BINDINGS}
@group(0) @binding(10) var<storage, read_write> scratch: array<f32>; // [2⌈n/C⌉][heads][DK][valueDim] chunk states, then [2⌈n/C⌉][heads] decays
fn keepOf(t: u32, h: u32) -> f32 { return keep[t * p.heads + h]; }
fn addOf(t: u32, h: u32) -> f32 { return add[t * p.heads + h]; }
fn qOf(t: u32, h: u32, i: u32) -> f32 { return q[(t * p.heads + h) * DK + i]; }
fn kOf(t: u32, h: u32, i: u32) -> f32 { return k[(t * p.heads + h) * DK + i]; }
fn vOf(t: u32, h: u32, a: u32) -> f32 { return v[(t * p.heads + h) * p.valueDim + a]; }
fn put(t: u32, h: u32, a: u32, value: f32) { o[(t * p.heads + h) * p.valueDim + a] = value; }
`;

/**
 * The chunked passes for the long runs of an op {@linkcode retentionPlan} has checked (its
 * recurrence, told to leave them, runs the others); undefined when the step is too short for a
 * chunk or its scratch would exceed the largest binding.
 */
export function retentionChunkedPlans(op: RetentionOp, ctx: PlanContext): Plan[] | undefined {
  const { n, heads: H, keyDim: DK, valueDim: DV, state } = op;
  if (n < CHUNK) return undefined;
  const scratch = ctx.scratch(chunkedScratchBytes(n, H, DV * DK));
  if (!scratch) return undefined;
  return chunkedPlans({
    key: `retention_chunked_dk${DK}`,
    header: header(DK),
    params: Uint32Array.of(n, H, DV, state.arena.cols, state.offset),
    buffers: [
      ...[op.q, op.k, op.v, op.keep, op.add, op.o].map((t) => gpu(t, "retention input")),
      gpu(state.arena, "state arena"),
      ...rowBuffers(op.rows, n),
      scratch,
    ],
    n,
    heads: H,
    valueDim: DV,
    keyDim: DK,
  });
}
