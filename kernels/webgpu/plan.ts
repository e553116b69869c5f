/**
 * What an op asks the GPU to run, before any GPU object exists: the shader (named by a key that
 * covers every compile-time constant in its code), its uniform parameters, its storage buffers
 * and its dispatch size. The backend turns each plan into a pipeline and bind group once per op
 * instance and reuses them on every submit.
 */

import type { Matrix } from "../types.ts";
import type { GpuMatrix } from "./bands.ts";
import type { Rows, StateRef, Tensor, TensorDType } from "../ops.ts";

/** One dispatch of one shader. */
export interface Plan {
  /** Pipeline cache key: the shader's name and the compile-time constants baked into `code`. */
  readonly key: string;
  /** The WGSL source; depends only on what `key` names. */
  readonly code: () => string;
  /** Uniform parameters bound at binding 0 (u32 words; floats as their bits, see {@linkcode bits}). */
  readonly params: Uint32Array<ArrayBuffer>;
  /** Storage buffers bound at 1, 2, … in the order the shader declares them. */
  readonly buffers: readonly GPUBuffer[];
  /** Workgroups in x, y and z. */
  readonly dispatch: readonly [number, number, number];
  /**
   * Every buffer bound read-write whether the shader uses it or not (the passes of one op that
   * share its bindings); otherwise the layout is the shader's own.
   */
  readonly allBound?: boolean;
}

/** What plan functions need from the backend besides the op itself. */
export interface PlanContext {
  /** The bands holding a matrix's elements (uploading a host matrix the first time it is seen). */
  matrix(m: Matrix): GpuMatrix;
  /** A small zeroed buffer bound where an optional input is absent. */
  readonly none: GPUBuffer;
  /**
   * A working buffer of at least `bytes`, shared by the ops asking for about as much (the ops of
   * a submission run in order); undefined when it would exceed the largest storage binding.
   */
  scratch(bytes: number): GPUBuffer | undefined;
}

/** Threads per workgroup of every shader here. */
export const WORKGROUP = 64;

/** The most workgroups along one dispatch dimension (WebGPU's default limit). */
const MAX_GROUPS = 65535;

/** A 2-D grid of `groups` workgroups (x at most 65535); shaders rebuild the flat index with `flatGroup`. */
export function grid(groups: number, z = 1): [number, number, number] {
  const x = Math.min(groups, MAX_GROUPS);
  return [x, Math.ceil(groups / Math.max(x, 1)), z];
}

/** A grid of one thread per item, `WORKGROUP` items per workgroup. */
export function threads(items: number): [number, number, number] {
  return grid(Math.ceil(items / WORKGROUP));
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The bits of `x` as an f32, to pass a float among u32 parameters. */
export function bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}

/** A tensor's GPU buffer; a TypeError for a tensor another backend made. */
export function gpu(t: Tensor, what: string): GPUBuffer {
  if (!(t.handle instanceof GPUBuffer)) {
    throw new TypeError(`${what} is not a WebGPU tensor: make it with this backend's tensor()`);
  }
  return t.handle;
}

/** Checks that `t` has at least `rows` rows of `cols` columns (cols unchecked when undefined). */
export function checkShape(
  t: Tensor,
  what: string,
  shape: { rows: number; cols?: number; dtype?: TensorDType },
): void {
  if (t.rows < shape.rows) throw new RangeError(`${what} has ${t.rows} rows; ${shape.rows} are needed`);
  if (shape.cols !== undefined && t.cols !== shape.cols) {
    throw new RangeError(`${what} has ${t.cols} columns; ${shape.cols} were expected`);
  }
  const dtype = shape.dtype ?? "f32";
  if (t.dtype !== dtype) throw new TypeError(`${what} is ${t.dtype}; ${dtype} was expected`);
}

/** Checks a `[cols]` constant row (a bias, weight or coefficient vector). */
export function checkRow(t: Tensor, cols: number, what: string): void {
  checkShape(t, what, { rows: 1 });
  if (t.cols !== cols) throw new RangeError(`${what} has ${t.cols} columns; ${cols} were expected`);
}

/** Checks a state part against its arena and the part's expected size. */
export function checkState(ref: StateRef, size: number, what: string): void {
  checkShape(ref.arena, `${what} arena`, { rows: 1 });
  if (ref.size !== size) throw new RangeError(`${what} holds ${ref.size} floats; ${size} were expected`);
  if (ref.offset < 0 || ref.offset + ref.size > ref.arena.cols) {
    throw new RangeError(`${what} (${ref.offset}..${ref.offset + ref.size}) is outside its arena's rows`);
  }
}

/** The row table's buffers (`slot`, then `first`), checked to cover `n` rows. */
export function rowBuffers(rows: Rows, n: number): [GPUBuffer, GPUBuffer] {
  checkShape(rows.slot, "row slots", { rows: n, dtype: "i32" });
  checkShape(rows.first, "row starts", { rows: n, dtype: "i32" });
  return [gpu(rows.slot, "row slots"), gpu(rows.first, "row starts")];
}
