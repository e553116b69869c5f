import type { Op, Tensor, TensorDType } from "./ops.ts";

/** The element types weights have in checkpoints. */
export type WeightDType = "f32" | "f16" | "bf16";

/** The formats of a matrix in backend memory: a checkpoint's element type, or quantized blocks (kernels/quant.ts). */
export type MatrixDType = WeightDType | "q8" | "q4";

/** A weight matrix held by a backend: row-major `[rows][cols]`. */
export interface Matrix {
  /** Number of rows (outputs). */
  readonly rows: number;
  /** Number of columns (inputs). */
  readonly cols: number;
  /** Element type (or quantized format) of the weights. */
  readonly dtype: MatrixDType;
  /**
   * The raw elements in host memory (f32 values, 16-bit patterns, or packed q8/q4 weights), for the
   * backends that compute on the host; absent when the matrix lives on a GPU (see `handle`).
   */
  readonly data?: Float32Array | Uint16Array | Int8Array | Uint8Array;
  /** q8 and q4: the f32 scale of each block of 32 columns, `[rows][cols / 32]`. */
  readonly scales?: Float32Array;
  /** A device backend's private handle to the elements; only the backend that made it looks at it. */
  readonly handle?: unknown;
}

/** Raw weights to hand to a backend: the elements of a `[rows][cols]` matrix. */
export interface MatrixSource {
  /** Number of rows (outputs). */
  readonly rows: number;
  /** Number of columns (inputs). */
  readonly cols: number;
  /** Element type (or quantized format) of the weights. */
  readonly dtype: MatrixDType;
  /** Little-endian element bytes, `rows * cols * (2 | 4)` of them (q8/q4: packed weights, then scales). */
  readonly bytes: Uint8Array;
  /** The checkpoint tensor it came from, when known (which weights stay unquantized is decided by name). */
  readonly name?: string;
}

/** Inputs of the RWKV-7 state update, each `[tokens][heads * headSize]` f32. */
export interface Wkv7Inputs {
  /** Receptance. */
  readonly r: Float32Array;
  /** Per-channel decay multiplier, already in (0, 1). */
  readonly w: Float32Array;
  /** Keys. */
  readonly k: Float32Array;
  /** Values. */
  readonly v: Float32Array;
  /** The "in-context learning" removal vector (-kk in the reference). */
  readonly a: Float32Array;
  /** The replacement vector (kk * a in the reference). */
  readonly b: Float32Array;
  /** Output `[tokens][heads * headSize]`. */
  readonly y: Float32Array;
}

/** Shape of one RWKV-7 state update. */
export interface Wkv7Shape {
  /** Tokens in this call. */
  readonly tokens: number;
  /** Heads. */
  readonly heads: number;
  /** Channels per head. */
  readonly headSize: number;
}

/** Inputs of the Mamba selective scan (see {@linkcode Backend.selectiveScan}). */
export interface SelectiveScanIo {
  /** [tokens][channels] the conv output. */
  readonly x: Float32Array;
  /** [tokens][channels] the step size, after softplus. */
  readonly dt: Float32Array;
  /** [channels][stateSize] A = -exp(A_log). */
  readonly a: Float32Array;
  /** [tokens][stateSize] */
  readonly b: Float32Array;
  /** [tokens][stateSize] */
  readonly c: Float32Array;
  /** [channels] the skip coefficient D. */
  readonly d: Float32Array;
  /** [tokens][channels] the gate, before SiLU. */
  readonly z: Float32Array;
  /** [tokens][channels] output. */
  readonly y: Float32Array;
}

/** Shape of a selective scan. */
export interface SelectiveScanShape {
  /** Tokens in this call. */
  readonly tokens: number;
  readonly channels: number;
  readonly stateSize: number;
}

/** Inputs of the Mamba-2 SSD recurrence (see {@linkcode Backend.ssdScan}). */
export interface SsdScanIo {
  /** [tokens][heads × headDim] */
  readonly x: Float32Array;
  /** [tokens][heads] step size (softplus, clamped). */
  readonly dt: Float32Array;
  /** [tokens][heads] exp(dt · A). */
  readonly dA: Float32Array;
  /** [tokens][groups][stateSize] */
  readonly b: Float32Array;
  /** [tokens][groups][stateSize] */
  readonly c: Float32Array;
  /** [heads] skip coefficient. */
  readonly d: Float32Array;
  /** [tokens][heads × headDim] output (before the gated norm). */
  readonly y: Float32Array;
}

/** Shape of an SSD recurrence. */
export interface SsdScanShape {
  /** Tokens in this call. */
  readonly tokens: number;
  /** Heads. */
  readonly heads: number;
  readonly headDim: number;
  readonly stateSize: number;
  readonly groups: number;
}

/** Inputs of RetNet's recurrent retention (see {@linkcode Backend.retention}). */
export interface RetentionIo {
  /** [tokens][heads × keyDim] rotated queries. */
  readonly q: Float32Array;
  /** [tokens][heads × keyDim] rotated, scaled keys. */
  readonly k: Float32Array;
  /** [tokens][heads × valueDim] */
  readonly v: Float32Array;
  /** [tokens][heads] factor on the old kv (γ·√s/√s'). */
  readonly keep: Float32Array;
  /** [tokens][heads] factor on the new k ⊗ v (1/√s'). */
  readonly add: Float32Array;
  /** [tokens][heads × valueDim] output (before the per-head norm). */
  readonly o: Float32Array;
}

/** Shape of a retention step. */
export interface RetentionShape {
  /** Tokens in this call. */
  readonly tokens: number;
  /** Heads. */
  readonly heads: number;
  readonly keyDim: number;
  readonly valueDim: number;
}

/** The RWKV-4 WKV state of one layer: each `[channels]`. */
export interface Wkv4State {
  readonly num: Float32Array;
  readonly den: Float32Array;
  readonly max: Float32Array;
}

/** Inputs of the RWKV-4 WKV (see {@linkcode Backend.wkv4}). */
export interface Wkv4Io {
  /** [channels] -exp(time_decay) */
  readonly w: Float32Array;
  /** [channels] time_first */
  readonly u: Float32Array;
  /** [tokens][channels] */
  readonly k: Float32Array;
  /** [tokens][channels] */
  readonly v: Float32Array;
  /** [tokens][channels] output */
  readonly out: Float32Array;
}

/**
 * What every kernel backend computes. All Float32Array arguments must come from
 * the backend's own `f32()` (the WASM backend reads them straight from its memory).
 */
export interface Backend {
  /** Which backend this is. */
  readonly name: BackendName;
  /** Threads the kernels run on. */
  readonly threads: number;
  /** Copies a weight matrix into backend memory, keeping its dtype. */
  matrix(src: MatrixSource): Matrix;
  /** A zeroed f32 buffer in backend memory. */
  f32(length: number): Float32Array;
  /** `y[rows] = m · x[cols]`. */
  matvec(m: Matrix, x: Float32Array, y: Float32Array): void;
  /** `y[t][rows] = m · x[t][cols]` for each of `tokens` rows of x. */
  matmul(m: Matrix, x: Float32Array, y: Float32Array, tokens: number): void;
  /** The RWKV-7 state update over `shape.tokens` tokens; `state` is `[heads][n][n]`, updated in place. */
  wkv7(state: Float32Array, io: Wkv7Inputs, shape: Wkv7Shape): void;
  /**
   * Mamba's selective scan over `shape.tokens` tokens; `state` ([channels][stateSize]) is updated:
   * h = exp(A·dt)·h + dt·x·B, y = (C·h + D·x)·SiLU(z).
   */
  selectiveScan(state: Float32Array, io: SelectiveScanIo, shape: SelectiveScanShape): void;
  /** Mamba-2's recurrence, heads sharing B and C per group; `state` is [heads][headDim][stateSize]. */
  ssdScan(state: Float32Array, io: SsdScanIo, shape: SsdScanShape): void;
  /** RetNet's recurrent retention; `kv` is [heads][valueDim][keyDim], updated in place. */
  retention(kv: Float32Array, io: RetentionIo, shape: RetentionShape): void;
  /** RWKV-4's WKV over `tokens` tokens, in its max-tracking stable form; `state` is updated. */
  wkv4(state: Wkv4State, io: Wkv4Io, shape: { readonly tokens: number; readonly channels: number }): void;
  /** Stops the backend's worker threads, if any. */
  close(): void;
  /** Jobs handed to worker threads so far, each a wake and a join (a threaded WASM backend; benches count them). */
  handOffs?(): number;

  /** A zeroed `[rows][cols]` tensor in backend memory. */
  tensor(rows: number, cols: number, dtype?: TensorDType): Tensor;
  /** Copies host values into `t`, starting at row `row` (default 0). */
  write(t: Tensor, data: Float32Array | Int32Array, row?: number): void;
  /**
   * Runs `ops` in order; resolves once their results can be read. A `read()` or `write()` called after
   * this returns, before the promise settles, is ordered after these ops (the runner queues a step's
   * reads with it, and may queue the next step before they land).
   */
  submit(ops: readonly Op[]): Promise<void>;
  /** `rows` rows of `t` from row `row` (default: all of it), copied to the host as f32. */
  read(t: Tensor, row?: number, rows?: number): Promise<Float32Array>;
  /**
   * Backends that compute on the host thread also run and read synchronously (what the
   * synchronous `RecurrentModel.forward` needs); a GPU backend leaves this undefined.
   */
  readonly sync?: {
    /** Runs `ops` in order, returning when they are done. */
    execute(ops: readonly Op[]): void;
    /** As {@linkcode Backend.read}, at once. */
    read(t: Tensor, row?: number, rows?: number): Float32Array;
  };
}

/** The backends the registry knows. */
export type BackendName = "reference" | "wasm" | "webgpu";
