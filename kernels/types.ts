/** The element types weights may have on disk and in backend memory. */
export type WeightDType = "f32" | "f16" | "bf16";

/** A weight matrix held by a backend: row-major `[rows][cols]`. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: WeightDType;
  /** The raw elements, in the backend's memory: f32 values or 16-bit patterns. */
  readonly data: Float32Array | Uint16Array;
}

/** Raw weights to hand to a backend: the elements of a `[rows][cols]` matrix. */
export interface MatrixSource {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: WeightDType;
  /** Little-endian element bytes, `rows * cols * (2 | 4)` of them. */
  readonly bytes: Uint8Array;
}

/** Inputs of the RWKV-7 state update, each `[tokens][heads * headSize]` f32. */
export interface Wkv7Inputs {
  readonly r: Float32Array;
  /** Per-channel decay multiplier, already in (0, 1). */
  readonly w: Float32Array;
  readonly k: Float32Array;
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
  readonly tokens: number;
  readonly heads: number;
  readonly headSize: number;
}

/**
 * What every kernel backend computes. All Float32Array arguments must come from
 * the backend's own `f32()` (the WASM backend reads them straight from its memory).
 */
export interface Backend {
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
  /** Stops the backend's worker threads, if any. */
  close(): void;
}

/** The backends the registry knows. */
export type BackendName = "reference" | "wasm";
