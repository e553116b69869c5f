/**
 * The start-up self-check of `--backend auto`: a few ops on seeded inputs, on the backend to check
 * and on the reference, compared: a matmul per weight format the model uses (q8/q4 quantized as the
 * loader quantizes), a layer norm, an RMS norm, SiLU, and the family's recurrence (two runs, one of
 * three tokens). Some adapters report features they compute wrongly; this catches what the model
 * would hit.
 *
 * @module
 */

import type { Op, Rows, StateRef, Tensor } from "./ops.ts";
import { isQuantized, quantizeMatrix } from "./quant.ts";
import { createReferenceBackend } from "./reference/backend.ts";
import type { Backend, MatrixDType, MatrixSource } from "./types.ts";

/** The recurrence op a family's step runs (the self-check runs the one the model needs). */
export type Recurrence = "wkv7" | "wkv4" | "selectiveScan" | "ssdScan" | "retention";

/** What the model about to load needs of a backend. */
export interface SelfCheckNeeds {
  /** Formats of the matrices it multiplies (default: f32). */
  readonly formats?: readonly MatrixDType[];
  /** Its family's recurrence (default: none checked). */
  readonly recurrence?: Recurrence;
}

/**
 * Largest |backend − reference| / max(1, |reference|) the self-check accepts: f32 sums in another
 * order stay below 1e-5 here; a wrongly computed op is off by far more.
 */
export const SELF_CHECK_TOLERANCE = 1e-3;

/** One check: its name, and its op list over seeded inputs with the tensors to compare. */
type Check = [name: string, build: (s: Seeded) => { ops: Op[]; outputs: Tensor[] }];

/** Tensors from a seeded stream (mulberry32), so both backends get the same values. */
class Seeded {
  #state: number;
  constructor(readonly backend: Backend, seed: number) {
    this.#state = seed >>> 0;
  }
  next(lo = -1, hi = 1): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  random(rows: number, cols: number, lo = -1, hi = 1): Tensor {
    const t = this.backend.tensor(rows, cols);
    this.backend.write(t, Float32Array.from({ length: rows * cols }, () => this.next(lo, hi)));
    return t;
  }
  ints(values: number[]): Tensor {
    const t = this.backend.tensor(values.length, 1, "i32");
    this.backend.write(t, Int32Array.from(values));
    return t;
  }
  /** Two runs: slot 0's three tokens, then slot 1's one. */
  rows(): Rows {
    return { slot: this.ints([0, 0, 0, 1]), first: this.ints([1, 0, 0, 1]) };
  }
  /** A state part of `size` floats in a new two-slot arena. */
  state(size: number, lo = -0.5, hi = 0.5): StateRef {
    return { arena: this.random(2, size, lo, hi), offset: 0, size };
  }
}

/** Tokens every check runs. */
const N = 4;

function matmulCheck(format: MatrixDType): Check {
  const [rows, cols] = [40, 96];
  return [`matmul ${format}`, (s) => {
    const f32 = Float32Array.from({ length: rows * cols }, () => s.next(-0.5, 0.5));
    let src: MatrixSource = { rows, cols, dtype: "f32", bytes: new Uint8Array(f32.buffer) };
    if (isQuantized(format)) src = quantizeMatrix(src, format);
    else if (format !== "f32") src = { rows, cols, dtype: format, bytes: halves(f32, format) };
    const x = s.random(N, cols), out = s.random(N, rows);
    return { ops: [{ op: "matmul", w: s.backend.matrix(src), x, out, n: N }], outputs: [out] };
  }];
}

/** f32 values as bf16 (truncated) or f16 (values within ±0.5: no overflow) bit patterns. */
function halves(f32: Float32Array, dtype: "bf16" | "f16"): Uint8Array {
  const u = new Uint32Array(f32.buffer);
  const bits = Uint16Array.from(u, (b) => {
    if (dtype === "bf16") return b >>> 16;
    const e = ((b >>> 23) & 0xff) - 127 + 15, sign = (b >>> 16) & 0x8000;
    return e <= 0 ? sign : sign | (e << 10) | ((b >>> 13) & 0x3ff);
  });
  return new Uint8Array(bits.buffer);
}

const COMMON: Check[] = [
  ["layer norm", (s) => {
    const x = s.random(N, 64, -3, 3), out = s.random(N, 64);
    const [weight, bias] = [s.random(1, 64), s.random(1, 64)];
    return {
      ops: [{ op: "norm", rms: false, x, out, weight, bias, groups: 1, eps: 1e-5, n: N }],
      outputs: [out],
    };
  }],
  ["rms norm", (s) => {
    const x = s.random(N, 64, -3, 3), out = s.random(N, 64), weight = s.random(1, 64);
    return { ops: [{ op: "norm", rms: true, x, out, weight, groups: 1, eps: 1e-5, n: N }], outputs: [out] };
  }],
  ["silu", (s) => {
    const x = s.random(N, 64, -8, 8), out = s.random(N, 64);
    return { ops: [{ op: "unary", fn: "silu", x, out, n: N }], outputs: [out] };
  }],
];

const RECURRENCES: Record<Recurrence, Check> = {
  wkv7: ["wkv7 recurrence", (s) => {
    const [H, S] = [2, 8], C = H * S;
    const t = (lo = -1, hi = 1) => s.random(N, C, lo, hi);
    const [r, w, k, v, a, b, y] = [t(), t(0.5, 1), t(), t(), t(-0.3, 0.3), t(-0.3, 0.3), t()];
    const state = s.state(H * S * S);
    const op: Op = { op: "wkv7", r, w, k, v, a, b, y, heads: H, headSize: S, state, rows: s.rows(), n: N };
    return { ops: [op], outputs: [y, state.arena] };
  }],
  wkv4: ["wkv4 recurrence", (s) => {
    const C = 16, arena = s.random(2, 3 * C);
    const part = (i: number) => ({ arena, offset: i * C, size: C });
    const [w, u, k, v, out] = [
      s.random(1, C, -1, -0.1),
      s.random(1, C),
      s.random(N, C, -3, 3),
      s.random(N, C),
      s.random(N, C),
    ];
    const op: Op = {
      op: "wkv4",
      w,
      u,
      k,
      v,
      out,
      num: part(0),
      den: part(1),
      max: part(2),
      rows: s.rows(),
      n: N,
    };
    return { ops: [op], outputs: [out, arena] };
  }],
  selectiveScan: ["selective scan", (s) => {
    const [I, S] = [16, 8], state = s.state(I * S);
    const [x, dt, z, y] = [s.random(N, I), s.random(N, I, 0, 0.5), s.random(N, I), s.random(N, I)];
    const [a, d, b, c] = [s.random(1, I * S, -2, 0), s.random(1, I), s.random(N, S), s.random(N, S)];
    const op: Op = {
      op: "selectiveScan",
      x,
      dt,
      a,
      b,
      c,
      d,
      z,
      y,
      stateSize: S,
      state,
      rows: s.rows(),
      n: N,
    };
    return { ops: [op], outputs: [y, state.arena] };
  }],
  ssdScan: ["SSD scan", (s) => {
    const [H, P, S, G] = [4, 4, 8, 2], state = s.state(H * P * S);
    const [x, y, b, c] = [s.random(N, H * P), s.random(N, H * P), s.random(N, G * S), s.random(N, G * S)];
    const [dt, dA, d] = [s.random(N, H, 0, 0.5), s.random(N, H, 0, 1), s.random(1, H)];
    const shape = { heads: H, headDim: P, stateSize: S, groups: G };
    const op: Op = { op: "ssdScan", x, dt, dA, b, c, d, y, ...shape, state, rows: s.rows(), n: N };
    return { ops: [op], outputs: [y, state.arena] };
  }],
  retention: ["retention", (s) => {
    const [H, DK, DV] = [2, 8, 8], state = s.state(H * DV * DK);
    const [q, k, v, o] = [s.random(N, H * DK), s.random(N, H * DK), s.random(N, H * DV), s.random(N, H * DV)];
    const [keep, add] = [s.random(N, H, 0.5, 1), s.random(N, H, 0, 1)];
    const shape = { heads: H, keyDim: DK, valueDim: DV };
    const op: Op = { op: "retention", q, k, v, keep, add, o, ...shape, state, rows: s.rows(), n: N };
    return { ops: [op], outputs: [o, state.arena] };
  }],
};

/**
 * Runs the checks `needs` calls for on `backend` and on the reference: the first disagreement
 * beyond {@linkcode SELF_CHECK_TOLERANCE} as a sentence naming the op, or undefined when all agree.
 */
export async function selfCheck(backend: Backend, needs: SelfCheckNeeds = {}): Promise<string | undefined> {
  const formats = [...new Set(needs.formats?.length ? needs.formats : ["f32" as const])];
  const checks = [...formats.map(matmulCheck), ...COMMON];
  if (needs.recurrence) checks.push(RECURRENCES[needs.recurrence]);
  const reference = createReferenceBackend();
  for (const [i, [name, build]] of checks.entries()) {
    const run = async (b: Backend) => {
      const { ops, outputs } = build(new Seeded(b, 1 + i));
      await b.submit(ops);
      return await Promise.all(outputs.map((t) => b.read(t)));
    };
    const [got, want] = [await run(backend), await run(reference)];
    for (let k = 0; k < want.length; k++) {
      for (let j = 0; j < want[k].length; j++) {
        const error = Math.abs(got[k][j] - want[k][j]) / Math.max(1, Math.abs(want[k][j]));
        if (!(error <= SELF_CHECK_TOLERANCE)) {
          return `${name} gave ${got[k][j]} at output ${k}[${j}] where the reference gives ${want[k][j]}`;
        }
      }
    }
  }
  return undefined;
}
