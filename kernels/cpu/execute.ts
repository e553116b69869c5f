/**
 * Op lists on a host-memory backend (the reference and WASM backends): tensors are typed
 * arrays in the backend's memory, the heavy ops go to the backend's kernels and the light
 * element-wise ops run here. Both CPU backends share this, so they agree on every op but the
 * kernels they are tested on.
 *
 * @module
 */

import type { MatmulOp, Op, Rows, StateRef, Tensor, TensorDType, UnaryFn } from "../ops.ts";
import type { Backend, Matrix } from "../types.ts";
import { widenTo } from "../widen.ts";
import { gelu, sigmoid, softplus } from "./math.ts";
import { pickRows } from "./pick.ts";

/** The kernels of a CPU backend (what the op list is lowered to). */
export type CpuKernels =
  & Pick<Backend, "matmul" | "wkv7" | "wkv4" | "selectiveScan" | "ssdScan" | "retention">
  & Partial<ElementwiseKernels>
  & {
    /**
     * Consecutive matmuls of an op list, in order, for a backend that runs independent ones
     * together (the threaded WASM backend: one hand-off for several); without it, one by one.
     */
    matmuls?(calls: readonly MatmulCall[]): void;
  };

/** One `y[t] = m · x[t]` for t < tokens (a matmul op on a CPU backend). */
export interface MatmulCall {
  readonly m: Matrix;
  readonly x: Float32Array;
  readonly y: Float32Array;
  readonly tokens: number;
}

/**
 * Element-wise loops a backend may run in its own code (the WASM backend: SIMD); without them, or
 * where `unary` declines a function (returns false), the loops here run. Arrays are rows of `cols`.
 */
export interface ElementwiseKernels {
  /** `out = fn(x + bias)` over `rows` rows; false if the backend does not compute `fn`. */
  unary(
    fn: UnaryFn,
    x: Float32Array,
    out: Float32Array,
    bias: Float32Array | undefined,
    shape: { rows: number; cols: number; k: number },
  ): boolean;
  /** One token-shift mix of one run of `tokens` rows: `prev` is `saved` for its first row. */
  shiftMix(
    x: Float32Array,
    saved: Float32Array,
    coef: Float32Array,
    out: Float32Array,
    shape: { tokens: number; cols: number; lerp: boolean },
  ): void;
  /** Layer or RMS norm over `groups` groups of each row (see `norm` below). */
  norm(
    rms: boolean,
    x: Float32Array,
    out: Float32Array,
    w: Float32Array | undefined,
    b: Float32Array | undefined,
    shape: { n: number; cols: number; groups: number; eps: number },
  ): void;
  /**
   * One run of a causal convolution then SiLU (see `causalConv` below): `window` is the run's slot's
   * `[channels][k]` inputs, oldest first, and is left holding its last k; `src` starts at the run's
   * first row and channel 0, rows `stride` apart.
   */
  causalConv(
    window: Float32Array,
    src: Float32Array,
    weight: Float32Array,
    bias: Float32Array | undefined,
    out: Float32Array,
    shape: { tokens: number; channels: number; k: number; stride: number },
  ): void;
  /** RWKV-7's per-token mixing, in place (see `rwkv7Mix` below). */
  rwkv7Mix(
    io: { w: Float32Array; a: Float32Array; k: Float32Array; kk: Float32Array; b: Float32Array },
    params: { w0: Float32Array; a0: Float32Array; kK: Float32Array; kA: Float32Array },
    shape: { rows: number; cols: number; heads: number },
  ): void;
}

/** Tensor, submit and read for a CPU backend whose memory hands out f32 arrays from `f32`. */
export function cpuOpMethods(
  kernels: CpuKernels,
  f32: (length: number) => Float32Array,
): Pick<Backend, "tensor" | "write" | "submit" | "read" | "sync"> {
  const execute = (ops: readonly Op[]) => {
    for (let i = 0; i < ops.length;) {
      let end = i;
      while (kernels.matmuls && end < ops.length && ops[end].op === "matmul") end++;
      if (end - i < 2) run(kernels, ops[i++]);
      else {
        const calls = (ops.slice(i, end) as MatmulOp[]).filter((op) => op.n > 0);
        kernels.matmuls!(calls.map((op) => ({ m: op.w, x: f(op.x), y: f(op.out), tokens: op.n })));
        i = end;
      }
    }
  };
  const read = (t: Tensor, row = 0, rows = t.rows - row): Float32Array => {
    const data = host(t);
    const [from, to] = [row * t.cols, (row + rows) * t.cols];
    if (data instanceof Float32Array) return data.slice(from, to);
    return Float32Array.from(data.subarray(from, to));
  };
  return {
    tensor(rows: number, cols: number, dtype: TensorDType = "f32"): Tensor {
      const f = f32(rows * cols);
      const handle = dtype === "f32" ? f : new Int32Array(f.buffer, f.byteOffset, f.length);
      return { rows, cols, dtype, handle };
    },
    write(t: Tensor, data: Float32Array | Int32Array, row = 0) {
      if (row * t.cols + data.length > t.rows * t.cols) {
        throw new RangeError(
          `Writing ${data.length} values at row ${row} overflows a [${t.rows}][${t.cols}] tensor`,
        );
      }
      host(t).set(data, row * t.cols);
    },
    submit(ops: readonly Op[]): Promise<void> {
      execute(ops);
      return Promise.resolve();
    },
    read: (t, row, rows) => Promise.resolve(read(t, row, rows)),
    sync: { execute, read },
  };
}

function host(t: Tensor): Float32Array | Int32Array {
  return t.handle as Float32Array | Int32Array;
}
const f = (t: Tensor) => t.handle as Float32Array;
const ints = (t: Tensor) => t.handle as Int32Array;
// The first n rows of t.
const rowsOf = (t: Tensor, from: number, to: number) => f(t).subarray(from * t.cols, to * t.cols);

/** Runs of rows [start, end) that share a slot and follow each other in time. */
function runsOf(rows: Rows, n: number): { start: number; end: number; slot: number }[] {
  const first = ints(rows.first), slot = ints(rows.slot);
  const out: { start: number; end: number; slot: number }[] = [];
  for (let r = 0; r < n; r++) {
    if (r === 0 || first[r] === 1) out.push({ start: r, end: r + 1, slot: slot[r] });
    else out[out.length - 1].end = r + 1;
  }
  return out;
}

/** A slot's view of a state part. */
function part(ref: StateRef, slot: number): Float32Array {
  const at = slot * ref.arena.cols + ref.offset;
  return f(ref.arena).subarray(at, at + ref.size);
}

const UNARY: Record<string, (x: number, k: number) => number> = {
  tanh: Math.tanh,
  sigmoid,
  silu: (x) => x * sigmoid(x),
  relu: (x) => (x > 0 ? x : 0),
  relu2: (x) => (x > 0 ? x * x : 0),
  gelu,
  softplus,
  scale: (x, k) => x * k,
};

const BINARY: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  mulSilu: (a, b) => a * (b * sigmoid(b)),
};

/** exp(-0.5), rounded as the RWKV-7 reference writes it. */
const DECAY_SCALE = 0.606531;

function run(k: CpuKernels, op: Op): void {
  const n = op.n;
  if (n === 0) return;
  switch (op.op) {
    case "matmul":
      // Always the matmul kernel, one token or many: its per-token sums do not depend on how
      // many tokens share the call, so a session's tokens come out the same batched or alone.
      k.matmul(op.w, f(op.x), f(op.out), n);
      return;
    case "embed": {
      const ids = ints(op.ids), out = f(op.out), C = op.table.cols;
      for (let t = 0; t < n; t++) {
        const id = ids[t];
        if (!Number.isInteger(id) || id < 0 || id >= op.table.rows) {
          throw new RangeError(`Token id ${id} is outside the vocabulary (0..${op.table.rows - 1})`);
        }
        widenTo(op.table, id, out.subarray(t * C, (t + 1) * C));
      }
      return;
    }
    case "gather": {
      const index = ints(op.index), x = f(op.x), out = f(op.out), C = op.x.cols;
      for (let i = 0; i < n; i++) out.set(x.subarray(index[i] * C, (index[i] + 1) * C), i * C);
      return;
    }
    case "scatter": {
      const index = ints(op.index), x = f(op.x), out = f(op.out), C = op.x.cols;
      for (let i = 0; i < n; i++) out.set(x.subarray(i * C, (i + 1) * C), index[i] * C);
      return;
    }
    case "copyRows": {
      const index = ints(op.index), x = f(op.x), out = f(op.out), C = op.x.cols;
      for (let i = 0; i < n; i++) out.set(x.subarray(index[i] * C, (index[i] + 1) * C), index[i] * C);
      return;
    }
    case "argmax": {
      const x = f(op.x), out = ints(op.out), C = op.x.cols;
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let c = 1; c < C; c++) if (x[i * C + c] > x[i * C + best]) best = c;
        out[i] = best;
      }
      return;
    }
    case "pick":
      return pickRows(
        op,
        f(op.x),
        f(op.params),
        f(op.adjust),
        ints(op.out),
        op.counts && { table: ints(op.counts.table), rows: ints(op.counts.rows) },
      );
    case "slice": {
      const x = f(op.x), out = f(op.out), C = op.out.cols, S = op.x.cols;
      for (let t = 0; t < n; t++) out.set(x.subarray(t * S + op.offset, t * S + op.offset + C), t * C);
      return;
    }
    case "norm":
      return (k.norm ?? norm)(op.rms, f(op.x), f(op.out), op.weight && f(op.weight), op.bias && f(op.bias), {
        n,
        cols: op.x.cols,
        groups: op.groups,
        eps: op.eps,
      });
    case "unary": {
      const shape = { rows: n, cols: op.x.cols, k: op.k ?? 1 };
      if (k.unary?.(op.fn, f(op.x), f(op.out), op.bias && f(op.bias), shape)) return;
      const fn = UNARY[op.fn], x = f(op.x), out = f(op.out), C = op.x.cols, kk = op.k ?? 1;
      if (op.bias) {
        const b = f(op.bias);
        for (let i = 0; i < n * C; i++) out[i] = fn(x[i] + b[i % C], kk);
      } else {
        for (let i = 0; i < n * C; i++) out[i] = fn(x[i], kk);
      }
      return;
    }
    case "binary": {
      const fn = BINARY[op.fn], a = f(op.a), b = f(op.b), out = f(op.out), C = op.a.cols;
      if (op.b.rows === 1 && op.a.rows !== 1) {
        for (let i = 0; i < n * C; i++) out[i] = fn(a[i], b[i % C]);
      } else {
        for (let i = 0; i < n * C; i++) out[i] = fn(a[i], b[i]);
      }
      return;
    }
    case "residual": {
      const x = f(op.x), y = f(op.y), C = op.x.cols, s = op.scale;
      const bias = op.bias && f(op.bias), gate = op.gate && f(op.gate);
      for (let i = 0; i < n * C; i++) {
        const add = bias ? y[i] + bias[i % C] : y[i] * s;
        x[i] += gate ? sigmoid(gate[i]) * add : add;
      }
      return;
    }
    case "tokenShift":
      return tokenShift(op, k.shiftMix);
    case "causalConv":
      return causalConv(op, k.causalConv);
    case "wkv7": {
      const C = op.heads * op.headSize;
      for (const { start, end, slot } of runsOf(op.rows, n)) {
        const io = (t: Tensor) => f(t).subarray(start * C, end * C);
        k.wkv7(part(op.state, slot), {
          r: io(op.r),
          w: io(op.w),
          k: io(op.k),
          v: io(op.v),
          a: io(op.a),
          b: io(op.b),
          y: io(op.y),
        }, { tokens: end - start, heads: op.heads, headSize: op.headSize });
      }
      return;
    }
    case "rwkv7Mix":
      if (k.rwkv7Mix) {
        k.rwkv7Mix(
          { w: f(op.w), a: f(op.a), k: f(op.k), kk: f(op.kk), b: f(op.b) },
          { w0: f(op.w0), a0: f(op.a0), kK: f(op.kK), kA: f(op.kA) },
          { rows: n, cols: op.w.cols, heads: op.heads },
        );
        return;
      }
      return rwkv7Mix(op);
    case "rwkv7Value": {
      const v = f(op.v), first = f(op.vFirst), mix = f(op.mix), v0 = f(op.v0), C = op.v.cols;
      for (let i = 0; i < n * C; i++) v[i] = v[i] + (first[i] - v[i]) * sigmoid(v0[i % C] + mix[i]);
      return;
    }
    case "rwkv7Bonus": {
      const y = f(op.y), r = f(op.r), kk = f(op.k), v = f(op.v), g = f(op.g), rK = f(op.rK);
      const C = op.y.cols, N = C / op.heads;
      for (let t = 0; t < n; t++) {
        const o = t * C;
        for (let h = 0; h < op.heads; h++) {
          let bonus = 0;
          for (let j = 0; j < N; j++) bonus += r[o + h * N + j] * kk[o + h * N + j] * rK[h * N + j];
          for (let j = 0; j < N; j++) y[o + h * N + j] += bonus * v[o + h * N + j];
        }
        for (let c = 0; c < C; c++) y[o + c] *= g[o + c];
      }
      return;
    }
    case "wkv4": {
      const A = op.k.cols;
      for (const { start, end, slot } of runsOf(op.rows, n)) {
        const io = (t: Tensor) => f(t).subarray(start * A, end * A);
        k.wkv4(
          { num: part(op.num, slot), den: part(op.den, slot), max: part(op.max, slot) },
          { w: f(op.w), u: f(op.u), k: io(op.k), v: io(op.v), out: io(op.out) },
          { tokens: end - start, channels: A },
        );
      }
      return;
    }
    case "selectiveScan": {
      const I = op.x.cols, N = op.stateSize;
      for (const { start, end, slot } of runsOf(op.rows, n)) {
        const io = (t: Tensor) => rowsOf(t, start, end);
        k.selectiveScan(part(op.state, slot), {
          x: io(op.x),
          dt: io(op.dt),
          a: f(op.a),
          b: io(op.b),
          c: io(op.c),
          d: f(op.d),
          z: io(op.z),
          y: io(op.y),
        }, { tokens: end - start, channels: I, stateSize: N });
      }
      return;
    }
    case "ssdStep": {
      const src = f(op.src), bias = f(op.bias), negA = f(op.negA), dt = f(op.dt), dA = f(op.dA);
      const H = op.dt.cols, S = op.src.cols;
      for (let t = 0; t < n; t++) {
        for (let h = 0; h < H; h++) {
          const step = Math.min(Math.max(softplus(src[t * S + op.offset + h] + bias[h]), op.min), op.max);
          dt[t * H + h] = step;
          dA[t * H + h] = Math.exp(step * negA[h]);
        }
      }
      return;
    }
    case "ssdScan":
      for (const { start, end, slot } of runsOf(op.rows, n)) {
        const io = (t: Tensor) => rowsOf(t, start, end);
        k.ssdScan(part(op.state, slot), {
          x: io(op.x),
          dt: io(op.dt),
          dA: io(op.dA),
          b: io(op.b),
          c: io(op.c),
          d: f(op.d),
          y: io(op.y),
        }, {
          tokens: end - start,
          heads: op.heads,
          headDim: op.headDim,
          stateSize: op.stateSize,
          groups: op.groups,
        });
      }
      return;
    case "retnetRotate":
      return retnetRotate(op);
    case "advance":
      for (const { start, end, slot } of runsOf(op.rows, n)) part(op.position, slot)[0] += end - start;
      return;
    case "retention":
      for (const { start, end, slot } of runsOf(op.rows, n)) {
        const io = (t: Tensor) => rowsOf(t, start, end);
        k.retention(part(op.state, slot), {
          q: io(op.q),
          k: io(op.k),
          v: io(op.v),
          keep: io(op.keep),
          add: io(op.add),
          o: io(op.o),
        }, { tokens: end - start, heads: op.heads, keyDim: op.keyDim, valueDim: op.valueDim });
      }
      return;
  }
}

function norm(
  rms: boolean,
  x: Float32Array,
  out: Float32Array,
  w: Float32Array | undefined,
  b: Float32Array | undefined,
  shape: { n: number; cols: number; groups: number; eps: number },
): void {
  const { n, cols, groups, eps } = shape;
  const size = cols / groups;
  for (let t = 0; t < n; t++) {
    for (let g = 0; g < groups; g++) {
      const o = t * cols + g * size;
      if (rms) {
        let ss = 0;
        for (let i = 0; i < size; i++) ss += x[o + i] * x[o + i];
        const inv = 1 / Math.sqrt(ss / size + eps);
        for (let i = 0; i < size; i++) {
          const c = g * size + i;
          out[o + i] = w ? w[c] * (x[o + i] * inv) : x[o + i] * inv;
        }
        continue;
      }
      let mean = 0;
      for (let i = 0; i < size; i++) mean += x[o + i];
      mean /= size;
      let v = 0;
      for (let i = 0; i < size; i++) {
        const d = x[o + i] - mean;
        v += d * d;
      }
      const inv = 1 / Math.sqrt(v / size + eps);
      for (let i = 0; i < size; i++) {
        const c = g * size + i;
        const y = (x[o + i] - mean) * inv;
        out[o + i] = w ? y * w[c] + (b ? b[c] : 0) : y;
      }
    }
  }
}

function tokenShift(op: Extract<Op, { op: "tokenShift" }>, mix?: ElementwiseKernels["shiftMix"]): void {
  const x = f(op.x), C = op.x.cols;
  const mixes = op.mixes.map((m) => [f(m.coef), f(m.out)] as const);
  for (const { start, end, slot } of runsOf(op.rows, op.n)) {
    const saved = part(op.state, slot);
    if (mix) {
      const shape = { tokens: end - start, cols: C, lerp: op.form === "lerp" };
      const cur = x.subarray(start * C, end * C);
      for (const [coef, out] of mixes) mix(cur, saved, coef, out.subarray(start * C, end * C), shape);
      saved.set(x.subarray((end - 1) * C, end * C));
      continue;
    }
    for (let t = start; t < end; t++) {
      const o = t * C;
      for (let c = 0; c < C; c++) {
        const cur = x[o + c];
        const prev = t === start ? saved[c] : x[o - C + c];
        if (op.form === "lerp") {
          for (const [coef, out] of mixes) out[o + c] = cur + (prev - cur) * coef[c];
        } else for (const [coef, out] of mixes) out[o + c] = cur * coef[c] + prev * (1 - coef[c]);
      }
    }
    saved.set(x.subarray((end - 1) * C, end * C));
  }
}

function causalConv(op: Extract<Op, { op: "causalConv" }>, kernel?: ElementwiseKernels["causalConv"]): void {
  const { channels, k } = op;
  const src = f(op.src), S = op.src.cols, w = f(op.weight), b = op.bias && f(op.bias), out = f(op.out);
  for (const { start, end, slot } of runsOf(op.rows, op.n)) {
    const window = part(op.state, slot);
    if (kernel) {
      const tokens = end - start;
      const runSrc = src.subarray(start * S + op.offset, (end - 1) * S + op.offset + channels);
      kernel(window, runSrc, w, b, out.subarray(start * channels, end * channels), {
        tokens,
        channels,
        k,
        stride: S,
      });
      continue;
    }
    for (let c = 0; c < channels; c++) {
      const s = c * k;
      for (let t = start; t < end; t++) {
        for (let j = 0; j < k - 1; j++) window[s + j] = window[s + j + 1];
        window[s + k - 1] = src[t * S + op.offset + c];
        let acc = b ? b[c] : 0;
        for (let j = 0; j < k; j++) acc += window[s + j] * w[s + j];
        out[t * channels + c] = acc * sigmoid(acc);
      }
    }
  }
}

function rwkv7Mix(op: Extract<Op, { op: "rwkv7Mix" }>): void {
  const [w, a, k, kk, b] = [op.w, op.a, op.k, op.kk, op.b].map(f);
  const [w0, a0, kK, kA] = [op.w0, op.a0, op.kK, op.kA].map(f);
  const C = op.w.cols, H = op.heads, N = C / H;
  for (let t = 0; t < op.n; t++) {
    const o = t * C;
    for (let c = 0; c < C; c++) {
      w[o + c] = Math.exp(-DECAY_SCALE * sigmoid(w0[c] + w[o + c]));
      a[o + c] = sigmoid(a0[c] + a[o + c]);
      kk[o + c] = k[o + c] * kK[c];
    }
    for (let h = 0; h < H; h++) {
      let sum = 0;
      for (let j = 0; j < N; j++) sum += kk[o + h * N + j] ** 2;
      const inv = 1 / Math.max(Math.sqrt(sum), 1e-12);
      for (let j = 0; j < N; j++) kk[o + h * N + j] *= inv;
    }
    for (let c = 0; c < C; c++) {
      k[o + c] = k[o + c] * (1 + (a[o + c] - 1) * kA[c]);
      b[o + c] = kk[o + c] * a[o + c];
      kk[o + c] = -kk[o + c];
    }
  }
}

function retnetRotate(op: Extract<Op, { op: "retnetRotate" }>): void {
  const q = f(op.q),
    k = f(op.k),
    keep = f(op.keep),
    add = f(op.add),
    angle = f(op.angle),
    decay = f(op.decay);
  const H = op.heads, D = op.q.cols, DK = D / H;
  const sin = new Float32Array(DK), cos = new Float32Array(DK), rot = new Float32Array(DK);
  const thetaShift = (x: Float32Array, o: number) => {
    for (let j = 0; j < DK; j += 2) {
      rot[j] = -x[o + j + 1];
      rot[j + 1] = x[o + j];
    }
    for (let j = 0; j < DK; j++) x[o + j] = x[o + j] * cos[j] + rot[j] * sin[j];
  };
  for (const { start, end, slot } of runsOf(op.rows, op.n)) {
    const pos0 = part(op.position, slot)[0], scale = part(op.scale, slot);
    for (let t = start; t < end; t++) {
      const pos = pos0 + (t - start);
      for (let j = 0; j < DK; j++) {
        const phase = Math.fround(angle[j] * pos); // f32, as the reference multiplies
        sin[j] = Math.sin(phase);
        cos[j] = Math.cos(phase);
      }
      for (let h = 0; h < H; h++) {
        const o = t * D + h * DK;
        for (let j = 0; j < DK; j++) k[o + j] *= op.scaling;
        thetaShift(q, o);
        thetaShift(k, o);
        // s' = γ·s + 1; the old kv is rescaled by γ·√s/√s', the new k ⊗ v by 1/√s'.
        const prev = scale[h], next = prev * decay[h] + 1;
        keep[t * H + h] = (Math.sqrt(prev) * decay[h]) / Math.sqrt(next);
        add[t * H + h] = 1 / Math.sqrt(next);
        scale[h] = next;
      }
    }
  }
}
