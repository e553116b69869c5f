/**
 * The device-side model of computation: opaque tensors in a backend's memory and a
 * recorded list of ops over them. A model builds one step as an op list once and submits
 * it many times; data comes back only through `read`. Every op works on the first `n`
 * rows of `[rows][cols]` f32 tensors (rows are tokens: one session's prompt, or one token
 * of each of many sessions).
 *
 * @module
 */

import type { Matrix } from "./types.ts";

/** Element types of tensors. Token ids, slots and row indices are i32. */
export type TensorDType = "f32" | "i32";

/** A `[rows][cols]` tensor in a backend's memory. Only the backend that made it looks at `handle`. */
export interface Tensor {
  /** Rows (tokens, sessions or slots). */
  readonly rows: number;
  /** Elements per row. */
  readonly cols: number;
  /** Element type. */
  readonly dtype: TensorDType;
  /** The backend's private handle. */
  readonly handle: unknown;
}

/**
 * Which recurrent state each row reads and writes. Row r belongs to state slot `slot[r]`;
 * `first[r]` is 1 when the row starts a run of consecutive tokens of one sequence (its
 * previous token comes from the state), 0 when its previous token is row r - 1 (same slot).
 * A prefill of T tokens is one run; a decode step over B sessions is B runs of one row.
 */
export interface Rows {
  /** `[rows][1]` i32 slot of each row. */
  readonly slot: Tensor;
  /** `[rows][1]` i32: 1 where a run starts. */
  readonly first: Tensor;
}

/**
 * A part of every slot of a state arena (`[slots][stateSize]`): the floats at
 * `offset .. offset + size` of each slot's row.
 */
export interface StateRef {
  /** The arena. */
  readonly arena: Tensor;
  /** Where the part starts within a slot. */
  readonly offset: number;
  /** Floats in the part. */
  readonly size: number;
}

/** Element-wise functions of one value. */
export type UnaryFn = "tanh" | "sigmoid" | "silu" | "relu" | "relu2" | "gelu" | "softplus" | "scale";

/** Element-wise functions of two values, `a ∘ b`. */
export type BinaryFn = "add" | "mul" | "mulSilu";

/** `out[t] = w · x[t]` for t < n (a matvec when n is 1). */
export interface MatmulOp {
  readonly op: "matmul";
  readonly w: Matrix;
  readonly x: Tensor;
  readonly out: Tensor;
  readonly n: number;
}

/** `out[t] = table[ids[t]]`, widened to f32. */
export interface EmbedOp {
  readonly op: "embed";
  readonly table: Matrix;
  readonly ids: Tensor;
  readonly out: Tensor;
  readonly n: number;
}

/**
 * `out[i] = x[index[i]]` for i < n (the rows whose logits are wanted; the token ids a step reads from
 * each slot's last greedy pick). `x` and `out` share a dtype; values are copied bit for bit.
 */
export interface GatherOp {
  readonly op: "gather";
  readonly x: Tensor;
  readonly index: Tensor;
  readonly out: Tensor;
  readonly n: number;
}

/**
 * `out[index[i]] = x[i]` for i < n (each emitted logits row, or greedy pick, kept in its session's
 * slot). `x` and `out` share a dtype; values are copied bit for bit.
 */
export interface ScatterOp {
  readonly op: "scatter";
  readonly x: Tensor;
  /** `[n][1]` i32 rows of `out`, each named once. */
  readonly index: Tensor;
  readonly out: Tensor;
  readonly n: number;
}

/**
 * `out[index[i]] = x[index[i]]` for i < n: the same rows of two tensors of one shape, copied bit for
 * bit (a slot's state and kept logits saved before a step runs ahead, and put back).
 */
export interface CopyRowsOp {
  readonly op: "copyRows";
  readonly x: Tensor;
  /** `[n][1]` i32 rows to copy. */
  readonly index: Tensor;
  readonly out: Tensor;
  readonly n: number;
}

/**
 * `out[i] = argmax(x[i])` for i < n: the index of the row's largest value, the first one on ties
 * (NaNs never taken, except that a NaN first value gives 0), as the host's greedy pick does.
 */
export interface ArgmaxOp {
  readonly op: "argmax";
  readonly x: Tensor;
  /** `[n][1]` i32. */
  readonly out: Tensor;
  readonly n: number;
}

/** Columns of a {@linkcode PickOp}'s `params` row, in order. */
export const PICK_PARAMS = [
  "temperature",
  "topK",
  "topP",
  "minP",
  "u",
  "presencePenalty",
  "frequencyPenalty",
  "repetitionPenalty",
] as const;

/**
 * Each row's next token as the host's sampler picks it (engine/sampler.ts): first `adjust` changes
 * `x` in place (each `[row, id, bias, count]`: the bias added, then, where count > 0, the repetition
 * penalty and `presence + frequency * count` subtracted; a count below 0 marks an unused entry); then a row with temperature 0 takes its
 * argmax (as {@linkcode ArgmaxOp}), and any other draws with uniform `u` from the tokens within 27.6
 * temperatures of the best, filtered by top-k, top-p and min-p in the order (logit desc, id asc),
 * or, with no filter, in id order.
 *
 * With `counts`, a penalized row (presence or frequency penalty not 0, or repetition penalty not 1)
 * takes its counts from the row `counts.rows[row]` of `counts.table` instead of `adjust`: with
 * `load`, that row is first set to `adjust`'s counts for the row (every other id 0); `adjust` then
 * adds only its bias, the penalty goes to every id whose count is above 0 (the same arithmetic), and
 * after the pick the picked id's count goes up by one, so the next step's pick sees it without the
 * host (steps run ahead). Rows without penalties leave their counts row as it was.
 */
export interface PickOp {
  readonly op: "pick";
  /** `[n][cols]` logits, adjusted in place. */
  readonly x: Tensor;
  /** `[n][8]` f32 each row's {@linkcode PICK_PARAMS}. */
  readonly params: Tensor;
  /** `[k][4]` f32 `row, id, bias, count` (at most one per row and id; count -1: unused). */
  readonly adjust: Tensor;
  /** Rows of `adjust` used. */
  readonly k: number;
  /** `[n][1]` i32. */
  readonly out: Tensor;
  readonly n: number;
  /** Penalty counts kept in backend memory (see above). */
  readonly counts?: PickCounts;
}

/** The penalties' counts a {@linkcode PickOp} keeps in backend memory, one row per state slot. */
export interface PickCounts {
  /** `[slots][cols]` i32: how often each id was picked, per slot. */
  readonly table: Tensor;
  /** `[n][1]` i32: each pick row's row of `table`. */
  readonly rows: Tensor;
  /** Whether the penalized rows' counts are loaded from `adjust` first (else `table` holds them). */
  readonly load: boolean;
}

/** `out[t][0..cols) = x[t][offset..offset + cols)`. */
export interface SliceOp {
  readonly op: "slice";
  readonly x: Tensor;
  readonly offset: number;
  readonly out: Tensor;
  readonly n: number;
}

/**
 * Layer norm (`rms` false) or RMS norm of each row, over `groups` equal groups of the row
 * (1: the whole row); then the affine `weight` (and `bias`) over the whole row when given.
 * `x` and `out` may be the same tensor.
 */
export interface NormOp {
  readonly op: "norm";
  readonly rms: boolean;
  readonly x: Tensor;
  readonly out: Tensor;
  readonly weight?: Tensor;
  readonly bias?: Tensor;
  readonly groups: number;
  readonly eps: number;
  readonly n: number;
}

/** `out = fn(x + bias)` element-wise (`bias` a `[1][cols]` row, optional); "scale" multiplies by `k`. */
export interface UnaryOp {
  readonly op: "unary";
  readonly fn: UnaryFn;
  readonly x: Tensor;
  readonly out: Tensor;
  readonly bias?: Tensor;
  readonly k?: number;
  readonly n: number;
}

/** `out = a ∘ b` element-wise; `b` may be a `[1][cols]` row broadcast over rows. */
export interface BinaryOp {
  readonly op: "binary";
  readonly fn: BinaryFn;
  readonly a: Tensor;
  readonly b: Tensor;
  readonly out: Tensor;
  readonly n: number;
}

/**
 * The residual update `x += gate · (y · scale + bias)`, where gate is sigmoid(`gate`) when given,
 * else 1, and `bias` a `[1][cols]` row.
 */
export interface ResidualOp {
  readonly op: "residual";
  readonly x: Tensor;
  readonly y: Tensor;
  readonly gate?: Tensor;
  readonly bias?: Tensor;
  readonly scale: number;
  readonly n: number;
}

/**
 * Token shift: with prev the row's previous token (row r - 1, or the saved row in the state
 * when the row starts a run), each mix writes `lerp` = x + (prev - x)·coef (RWKV-7) or
 * `mix` = x·coef + prev·(1 - coef) (RWKV-4); the saved row becomes each run's last row.
 */
export interface TokenShiftOp {
  readonly op: "tokenShift";
  readonly form: "lerp" | "mix";
  readonly x: Tensor;
  readonly state: StateRef;
  readonly rows: Rows;
  readonly mixes: readonly { readonly coef: Tensor; readonly out: Tensor }[];
  readonly n: number;
}

/**
 * Causal depthwise conv + SiLU over `channels` of `src[t][offset..]`: each slot keeps the last
 * `k` inputs per channel in `state` (`[channels][k]`, oldest first); `weight` is `[channels][k]`.
 */
export interface CausalConvOp {
  readonly op: "causalConv";
  readonly src: Tensor;
  readonly offset: number;
  readonly channels: number;
  readonly k: number;
  readonly weight: Tensor;
  readonly bias?: Tensor;
  readonly state: StateRef;
  readonly rows: Rows;
  readonly out: Tensor;
  readonly n: number;
}

/** RWKV-7's state update (see Backend.wkv7); the state part is `[heads][n][n]` per slot. */
export interface Wkv7Op {
  readonly op: "wkv7";
  readonly r: Tensor;
  readonly w: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly a: Tensor;
  readonly b: Tensor;
  readonly y: Tensor;
  readonly heads: number;
  readonly headSize: number;
  readonly state: StateRef;
  readonly rows: Rows;
  readonly n: number;
}

/**
 * RWKV-7's per-token mixing before the state update, from the raw projections and lora
 * outputs: w ← exp(-e^-½·σ(w0 + w)), a ← σ(a0 + a), kk ← -L2(k·kK per head),
 * b ← -kk·a, k ← k·(1 + (a - 1)·kA).
 */
export interface Rwkv7MixOp {
  readonly op: "rwkv7Mix";
  readonly w: Tensor;
  readonly a: Tensor;
  readonly k: Tensor;
  readonly kk: Tensor;
  readonly b: Tensor;
  readonly w0: Tensor;
  readonly a0: Tensor;
  readonly kK: Tensor;
  readonly kA: Tensor;
  readonly heads: number;
  readonly n: number;
}

/** RWKV-7's value residual: v ← v + (vFirst - v)·σ(v0 + mix). */
export interface Rwkv7ValueOp {
  readonly op: "rwkv7Value";
  readonly v: Tensor;
  readonly vFirst: Tensor;
  readonly mix: Tensor;
  readonly v0: Tensor;
  readonly n: number;
}

/** RWKV-7's output bonus and gate: y ← (y + Σ_head(r·k·rK)·v)·g. */
export interface Rwkv7BonusOp {
  readonly op: "rwkv7Bonus";
  readonly y: Tensor;
  readonly r: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly g: Tensor;
  readonly rK: Tensor;
  readonly heads: number;
  readonly n: number;
}

/** RWKV-4's WKV (see Backend.wkv4); the state parts are `[channels]` each per slot. */
export interface Wkv4Op {
  readonly op: "wkv4";
  readonly w: Tensor;
  readonly u: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly out: Tensor;
  readonly num: StateRef;
  readonly den: StateRef;
  readonly max: StateRef;
  readonly rows: Rows;
  readonly n: number;
}

/** Mamba's selective scan (see Backend.selectiveScan); the state part is `[channels][stateSize]`. */
export interface SelectiveScanOp {
  readonly op: "selectiveScan";
  readonly x: Tensor;
  readonly dt: Tensor;
  readonly a: Tensor;
  readonly b: Tensor;
  readonly c: Tensor;
  readonly d: Tensor;
  readonly z: Tensor;
  readonly y: Tensor;
  readonly stateSize: number;
  readonly state: StateRef;
  readonly rows: Rows;
  readonly n: number;
}

/** Mamba-2's step sizes: dt = clamp(softplus(src[t][offset + h] + bias[h])), dA = exp(dt·negA[h]). */
export interface SsdStepOp {
  readonly op: "ssdStep";
  readonly src: Tensor;
  readonly offset: number;
  readonly bias: Tensor;
  readonly negA: Tensor;
  readonly min: number;
  readonly max: number;
  readonly dt: Tensor;
  readonly dA: Tensor;
  readonly n: number;
}

/** Mamba-2's SSD recurrence (see Backend.ssdScan); the state part is `[heads][headDim][stateSize]`. */
export interface SsdScanOp {
  readonly op: "ssdScan";
  readonly x: Tensor;
  readonly dt: Tensor;
  readonly dA: Tensor;
  readonly b: Tensor;
  readonly c: Tensor;
  readonly d: Tensor;
  readonly y: Tensor;
  readonly heads: number;
  readonly headDim: number;
  readonly stateSize: number;
  readonly groups: number;
  readonly state: StateRef;
  readonly rows: Rows;
  readonly n: number;
}

/**
 * RetNet's position step, per row at position p = the slot's position + its index in its run:
 * k ← k·scaling, q and k rotated by p·angle, and the decay factors keep/add from the per-head
 * scale s (s' = γ·s + 1, updated in the state).
 */
export interface RetNetRotateOp {
  readonly op: "retnetRotate";
  readonly q: Tensor;
  readonly k: Tensor;
  readonly keep: Tensor;
  readonly add: Tensor;
  readonly angle: Tensor;
  readonly decay: Tensor;
  readonly scaling: number;
  readonly heads: number;
  readonly position: StateRef;
  readonly scale: StateRef;
  readonly rows: Rows;
  readonly n: number;
}

/** Advances each slot's position (a one-float state part) by the rows it ran. */
export interface AdvanceOp {
  readonly op: "advance";
  readonly position: StateRef;
  readonly rows: Rows;
  readonly n: number;
}

/** RetNet's recurrent retention (see Backend.retention); the state part is `[heads][valueDim][keyDim]`. */
export interface RetentionOp {
  readonly op: "retention";
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly keep: Tensor;
  readonly add: Tensor;
  readonly o: Tensor;
  readonly heads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly state: StateRef;
  readonly rows: Rows;
  readonly n: number;
}

/** Every op a backend executes. */
export type Op =
  | MatmulOp
  | EmbedOp
  | GatherOp
  | ScatterOp
  | CopyRowsOp
  | ArgmaxOp
  | PickOp
  | SliceOp
  | NormOp
  | UnaryOp
  | BinaryOp
  | ResidualOp
  | TokenShiftOp
  | CausalConvOp
  | Wkv7Op
  | Rwkv7MixOp
  | Rwkv7ValueOp
  | Rwkv7BonusOp
  | Wkv4Op
  | SelectiveScanOp
  | SsdStepOp
  | SsdScanOp
  | RetNetRotateOp
  | AdvanceOp
  | RetentionOp;
