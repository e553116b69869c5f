import type { Matrix, Op, Tensor, UnaryFn } from "../../kernels/mod.ts";
import type { GraphContext } from "./runner.ts";
import type { NormParams } from "./weights.ts";

/**
 * Records the ops of one step over `n` rows in order, with short names for the common ones;
 * family graphs read as the forward pass they record.
 */
export class GraphWriter {
  /** The recorded ops. */
  readonly ops: Op[] = [];

  /** Starts recording a step of `n` rows in `ctx`. */
  constructor(readonly ctx: GraphContext, readonly n: number) {}

  /** Appends any op (for `n` rows unless it says otherwise). */
  push(op: Op): void {
    this.ops.push(op);
  }

  /** `out[t] = w · x[t]`. */
  matmul(w: Matrix, x: Tensor, out: Tensor, n = this.n): void {
    this.ops.push({ op: "matmul", w, x, out, n });
  }

  /** Layer norm of each row with `p`'s affine. */
  layerNorm(x: Tensor, out: Tensor, p: NormParams, n = this.n): void {
    this.norm(x, out, p, { rms: false, groups: 1, n });
  }

  /** Layer norm (`rms` false) or RMS norm over `groups` groups of each row, then `p`'s affine if any. */
  norm(
    x: Tensor,
    out: Tensor,
    p: { readonly w?: Float32Array; readonly b?: Float32Array; readonly eps: number },
    shape: { rms: boolean; groups: number; n?: number },
  ): void {
    const { ctx } = this;
    this.ops.push({
      op: "norm",
      rms: shape.rms,
      x,
      out,
      weight: p.w && ctx.constant(p.w),
      bias: p.b && ctx.constant(p.b),
      groups: shape.groups,
      eps: p.eps,
      n: shape.n ?? this.n,
    });
  }

  /** RMS norm of each row times `w`. */
  rmsNorm(x: Tensor, out: Tensor, w: Float32Array, eps: number, n = this.n): void {
    this.norm(x, out, { w, eps }, { rms: true, groups: 1, n });
  }

  /** `out = fn(x (+ bias))`. */
  unary(fn: UnaryFn, x: Tensor, out = x, extra: { bias?: Float32Array; k?: number } = {}): void {
    const bias = extra.bias && this.ctx.constant(extra.bias);
    this.ops.push({ op: "unary", fn, x, out, bias, k: extra.k, n: this.n });
  }

  /** `out = a ∘ b`. */
  binary(fn: "add" | "mul" | "mulSilu", a: Tensor, b: Tensor, out = a): void {
    this.ops.push({ op: "binary", fn, a, b, out, n: this.n });
  }

  /** `x += gate · (y · scale + bias)` (gate σ(gate) when given). */
  residual(x: Tensor, y: Tensor, extra: { scale?: number; bias?: Float32Array; gate?: Tensor } = {}): void {
    const bias = extra.bias && this.ctx.constant(extra.bias);
    this.ops.push({ op: "residual", x, y, gate: extra.gate, bias, scale: extra.scale ?? 1, n: this.n });
  }

  /** Columns `offset .. offset + out.cols` of each row of x into out. */
  slice(x: Tensor, offset: number, out: Tensor): void {
    this.ops.push({ op: "slice", x, offset, out, n: this.n });
  }

  /** The step's token embeddings into `out`. */
  embed(table: Matrix, out: Tensor): void {
    this.ops.push({ op: "embed", table, ids: this.ctx.ids, out, n: this.n });
  }

  /**
   * The end of every step: gathers the `m` emitted rows of `x` into `last`, norms them
   * (`finalNorm`) and projects them to the logits.
   */
  head(x: Tensor, last: Tensor, m: number, finalNorm: (last: Tensor, m: number) => void, head: Matrix): void {
    this.ops.push({ op: "gather", x, index: this.ctx.emit, out: last, n: m });
    finalNorm(last, m);
    this.matmul(head, last, this.ctx.logits, m);
  }
}
