/**
 * Element-wise ops, one thread per element: unary functions (with an optional bias row),
 * binary functions (b may be one row broadcast over all rows) and the residual update.
 *
 * @module
 */

import type { BinaryFn, BinaryOp, ResidualOp, Tensor, UnaryFn, UnaryOp } from "../ops.ts";
import { bits, checkRow, checkShape, gpu, type Plan, type PlanContext, threads } from "./plan.ts";
import { BUILTINS, FLAT, MATH } from "./wgsl.ts";

const UNARY: Record<UnaryFn, string> = {
  tanh: "tanhSafe(v)",
  sigmoid: "sigmoid(v)",
  silu: "v * sigmoid(v)",
  relu: "max(v, 0.0)",
  relu2: "select(0.0, v * v, v > 0.0)",
  gelu: "gelu(v)",
  softplus: "softplus(v)",
  scale: "v * p.k",
};

const BINARY: Record<BinaryFn, string> = {
  add: "a + b",
  mul: "a * b",
  mulSilu: "a * (b * sigmoid(b))",
};

const unaryCode = (fn: UnaryFn) => () => `
struct P { total: u32, cols: u32, hasBias: u32, k: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [n][cols] (may be x)
@group(0) @binding(3) var<storage, read_write> bias: array<f32>; // [cols], or unused
${FLAT}
${MATH}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.total) { return; }
  let v = x[i] + select(0.0, bias[i % p.cols], p.hasBias == 1u);
  out[i] = ${UNARY[fn]};
}`;

/** `out = fn(x + bias)`. */
export function unaryPlan(op: UnaryOp, ctx: PlanContext): Plan[] {
  const { x, out, n } = op;
  if (!(op.fn in UNARY)) throw new TypeError(`Unknown unary function "${op.fn}"`);
  checkShape(x, "unary x", { rows: n });
  checkShape(out, "unary out", { rows: n, cols: x.cols });
  if (op.bias) checkRow(op.bias, x.cols, "unary bias");
  return [{
    key: `unary_${op.fn}`,
    code: unaryCode(op.fn),
    params: Uint32Array.of(n * x.cols, x.cols, op.bias ? 1 : 0, bits(op.k ?? 1)),
    buffers: [gpu(x, "unary x"), gpu(out, "unary out"), op.bias ? gpu(op.bias, "unary bias") : ctx.none],
    dispatch: threads(n * x.cols),
  }];
}

const binaryCode = (fn: BinaryFn) => () => `
struct P { total: u32, cols: u32, broadcast: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols] a
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // [n][cols] b, or [1][cols] broadcast
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n][cols] (may be a or b)
${FLAT}
${MATH}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.total) { return; }
  let a = x[i];
  let b = y[select(i, i % p.cols, p.broadcast == 1u)];
  out[i] = ${BINARY[fn]};
}`;

/** The plan of `out = a ∘ b` (also used inside other ops, e.g. Mamba's output gate). */
export function binaryPlan(fn: BinaryFn, t: { a: Tensor; b: Tensor; out: Tensor; n: number }): Plan {
  const { a, b, out, n } = t;
  if (!(fn in BINARY)) throw new TypeError(`Unknown binary function "${fn}"`);
  checkShape(a, "binary a", { rows: n });
  checkShape(out, "binary out", { rows: n, cols: a.cols });
  const broadcast = b.rows === 1 && a.rows !== 1;
  checkShape(b, "binary b", { rows: broadcast ? 1 : n, cols: a.cols });
  return {
    key: `binary_${fn}`,
    code: binaryCode(fn),
    params: Uint32Array.of(n * a.cols, a.cols, broadcast ? 1 : 0),
    buffers: [gpu(a, "binary a"), gpu(b, "binary b"), gpu(out, "binary out")],
    dispatch: threads(n * a.cols),
  };
}

/** `out = a ∘ b`. */
export function binaryOpPlan(op: BinaryOp): Plan[] {
  return [binaryPlan(op.fn, op)];
}

const residualCode = () => `
struct P { total: u32, cols: u32, scale: f32, hasGate: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols], updated
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // [n][cols]
@group(0) @binding(3) var<storage, read_write> gate: array<f32>; // [n][cols], or unused
@group(0) @binding(4) var<storage, read_write> bias: array<f32>; // [cols], or unused
${FLAT}
${MATH}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.total) { return; }
  let add = select(y[i] * p.scale, y[i] + bias[i % p.cols], p.hasBias == 1u);
  x[i] += select(add, sigmoid(gate[i]) * add, p.hasGate == 1u);
}`;

/** `x += gate · (y · scale + bias)`. */
export function residualPlan(op: ResidualOp, ctx: PlanContext): Plan[] {
  const { x, y, n } = op;
  checkShape(x, "residual x", { rows: n });
  checkShape(y, "residual y", { rows: n, cols: x.cols });
  if (op.gate) checkShape(op.gate, "residual gate", { rows: n, cols: x.cols });
  if (op.bias) checkRow(op.bias, x.cols, "residual bias");
  return [{
    key: "residual",
    code: residualCode,
    params: Uint32Array.of(n * x.cols, x.cols, bits(op.scale), op.gate ? 1 : 0, op.bias ? 1 : 0),
    buffers: [
      gpu(x, "residual x"),
      gpu(y, "residual y"),
      op.gate ? gpu(op.gate, "residual gate") : ctx.none,
      op.bias ? gpu(op.bias, "residual bias") : ctx.none,
    ],
    dispatch: threads(n * x.cols),
  }];
}
