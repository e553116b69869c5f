import type { Backend, Matrix, MatrixSource, Wkv7Inputs, Wkv7Shape } from "../types.ts";
import { kernelModule, wasmSimdSupported } from "./loader.ts";

interface KernelExports {
  matvec_f32(w: number, x: number, y: number, rows: number, cols: number): void;
  matvec_f16(w: number, x: number, y: number, rows: number, cols: number, xbuf: number): void;
  matvec_bf16(w: number, x: number, y: number, rows: number, cols: number, xbuf: number): void;
  matmul_f32(w: number, x: number, y: number, rows: number, cols: number, t: number, buf: number): void;
  matmul_f16(w: number, x: number, y: number, rows: number, cols: number, t: number, buf: number): void;
  matmul_bf16(w: number, x: number, y: number, rows: number, cols: number, t: number, buf: number): void;
  sum_f32(p: number, n: number): number;
  wkv7(
    s: number,
    r: number,
    w: number,
    k: number,
    v: number,
    a: number,
    b: number,
    y: number,
    t: number,
    h: number,
    n: number,
  ): void;
}

const PAGE = 65536;
const ALIGN = 64;

/** Options of {@linkcode createWasmBackend}. */
export interface WasmBackendOptions {
  /** Bytes of weights and buffers this backend will be asked to hold; its memory is sized once from it. */
  capacity: number;
  /** The widest matrix (columns) matmul will see; sizes the weight scratch. */
  maxCols?: number;
}

/**
 * The WASM-SIMD backend. Its memory is allocated once, at the size the caller
 * asks for, so views handed out by `f32()` and `matrix()` never go stale.
 */
export async function createWasmBackend(options: WasmBackendOptions): Promise<Backend> {
  if (!wasmSimdSupported()) throw new Error("This runtime lacks WASM SIMD: use the reference backend");
  const scratchFloats = 4 * (options.maxCols ?? 16384);
  const bytes = options.capacity + scratchFloats * 4 + 16 * PAGE;
  const pages = Math.ceil(bytes / PAGE);
  if (pages > 65536) {
    throw new RangeError(`A WASM backend holds at most 4 GiB; ${bytes} bytes were asked for`);
  }
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(await kernelModule(), { env: { memory } });
  const k = instance.exports as unknown as KernelExports;
  const buffer = memory.buffer;
  // The C stack and constants sit below __heap_base (the stack first, 64 KiB); buffers go above.
  let top = (instance.exports.__heap_base as WebAssembly.Global).value as number;

  function alloc(byteLength: number): number {
    const at = Math.ceil(top / ALIGN) * ALIGN;
    if (at + byteLength > buffer.byteLength) {
      throw new RangeError(`WASM backend memory exhausted: ${byteLength} more bytes needed`);
    }
    top = at + byteLength;
    return at;
  }
  const scratch = alloc(scratchFloats * 4);

  function ptr(a: Float32Array | Uint16Array): number {
    if (a.buffer !== buffer) {
      throw new TypeError("Buffers passed to the WASM backend must come from its f32()");
    }
    return a.byteOffset;
  }

  return {
    name: "wasm",
    matrix(src: MatrixSource): Matrix {
      if (src.cols % 8 !== 0) throw new RangeError(`Matrix columns must be a multiple of 8, got ${src.cols}`);
      const at = alloc(src.bytes.byteLength);
      new Uint8Array(buffer, at, src.bytes.byteLength).set(src.bytes);
      const n = src.rows * src.cols;
      const data = src.dtype === "f32" ? new Float32Array(buffer, at, n) : new Uint16Array(buffer, at, n);
      return { rows: src.rows, cols: src.cols, dtype: src.dtype, data };
    },
    f32(length: number): Float32Array {
      return new Float32Array(buffer, alloc(length * 4), length);
    },
    matvec(m, x, y) {
      if (m.dtype === "f32") k.matvec_f32(ptr(m.data), ptr(x), ptr(y), m.rows, m.cols);
      else {
        if (m.cols > scratchFloats) throw new RangeError(`Matrix has ${m.cols} columns, above maxCols`);
        const fn = m.dtype === "f16" ? k.matvec_f16 : k.matvec_bf16;
        fn(ptr(m.data), ptr(x), ptr(y), m.rows, m.cols, scratch);
      }
    },
    matmul(m, x, y, tokens) {
      if (m.cols > scratchFloats / 4) throw new RangeError(`Matrix has ${m.cols} columns, above maxCols`);
      const fn = m.dtype === "f32" ? k.matmul_f32 : m.dtype === "f16" ? k.matmul_f16 : k.matmul_bf16;
      fn(ptr(m.data), ptr(x), ptr(y), m.rows, m.cols, tokens, scratch);
    },
    wkv7(state: Float32Array, io: Wkv7Inputs, shape: Wkv7Shape) {
      if (shape.headSize % 4 !== 0) {
        throw new RangeError(`Head size must be a multiple of 4, got ${shape.headSize}`);
      }
      k.wkv7(
        ptr(state),
        ptr(io.r),
        ptr(io.w),
        ptr(io.k),
        ptr(io.v),
        ptr(io.a),
        ptr(io.b),
        ptr(io.y),
        shape.tokens,
        shape.heads,
        shape.headSize,
      );
    },
  };
}
