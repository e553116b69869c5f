import type { Backend, Matrix, MatrixSource, Wkv7Inputs, Wkv7Shape } from "../types.ts";
import { widenTo } from "../widen.ts";
import { viewMatrix } from "../host_matrix.ts";
import { type CpuKernels, cpuOpMethods } from "../cpu/execute.ts";
import {
  referenceRetention,
  referenceSelectiveScan,
  referenceSsdScan,
  referenceWkv4,
} from "./recurrences.ts";

/**
 * The pure-TS reference backend: plain loops, f32 accumulation, written to be
 * obviously right rather than fast. Every other backend is tested against it.
 */
export function createReferenceBackend(): Backend {
  const kernels: CpuKernels & Pick<Backend, "matrix" | "f32" | "matvec"> = {
    // A copy: the checkpoint's bytes may be freed or reused.
    matrix: (src: MatrixSource): Matrix => viewMatrix(src, src.bytes.slice()),
    f32: (length) => new Float32Array(length),
    matvec(m, x, y) {
      const row = new Float32Array(m.cols);
      for (let r = 0; r < m.rows; r++) {
        widenTo(m, r, row);
        let sum = 0;
        for (let c = 0; c < m.cols; c++) sum += row[c] * x[c];
        y[r] = sum;
      }
    },
    matmul(m, x, y, tokens) {
      const row = new Float32Array(m.cols);
      for (let r = 0; r < m.rows; r++) {
        widenTo(m, r, row);
        for (let t = 0; t < tokens; t++) {
          let sum = 0;
          const xo = t * m.cols;
          for (let c = 0; c < m.cols; c++) sum += row[c] * x[xo + c];
          y[t * m.rows + r] = sum;
        }
      }
    },
    wkv7: referenceWkv7,
    selectiveScan: referenceSelectiveScan,
    ssdScan: referenceSsdScan,
    retention: referenceRetention,
    wkv4: referenceWkv4,
  };
  return { name: "reference", threads: 1, close() {}, ...kernels, ...cpuOpMethods(kernels, kernels.f32) };
}

/** The RWKV-7 state update, one token and one head at a time (see {@linkcode Backend.wkv7}). */
export function referenceWkv7(state: Float32Array, io: Wkv7Inputs, shape: Wkv7Shape): void {
  const { tokens, heads, headSize: n } = shape;
  const c = heads * n;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const o = t * c + h * n;
      const s = h * n * n;
      for (let i = 0; i < n; i++) {
        const row = s + i * n;
        let sa = 0;
        for (let j = 0; j < n; j++) sa += state[row + j] * io.a[o + j];
        const vi = io.v[o + i];
        let out = 0;
        for (let j = 0; j < n; j++) {
          const sij = state[row + j] * io.w[o + j] + sa * io.b[o + j] + vi * io.k[o + j];
          state[row + j] = sij;
          out += sij * io.r[o + j];
        }
        io.y[o + i] = out;
      }
    }
  }
}
