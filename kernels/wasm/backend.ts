import type { Backend, Matrix, MatrixSource, Wkv7Inputs, Wkv7Shape } from "../types.ts";
import type { UnaryFn } from "../ops.ts";
import { dtypeBytes, hostData } from "../widen.ts";
import { isQuantized } from "../quant.ts";
import { kernelModule, wasmRelaxedSimdSupported, wasmSimdSupported, wasmThreadsSupported } from "./loader.ts";
import { MAX_CALLS, OPS, ThreadPool } from "./pool.ts";
import { type CallSpan, groupCalls } from "./call_groups.ts";
import { SplitChoice } from "./split_choice.ts";
import { groupable, groupRows } from "./row_groups.ts";
import { quantizedKernels } from "./quantized.ts";
import { type CpuKernels, cpuOpMethods, type MatmulCall } from "../cpu/execute.ts";

/** The unary functions elementwise.c computes, in its numbering. */
const UNARY_IDS: readonly UnaryFn[] = [
  "tanh",
  "sigmoid",
  "silu",
  "relu",
  "relu2",
  "gelu",
  "scale",
  "softplus",
];

/** The element-wise kernels of elementwise.c (pointers into WASM memory; 0 for an absent array). */
interface ElementwiseExports {
  unary_f32(fn: number, x: number, out: number, bias: number, rows: number, cols: number, k: number): void;
  shift_mix(
    x: number,
    saved: number,
    coef: number,
    out: number,
    tokens: number,
    cols: number,
    lerp: number,
  ): void;
  norm_f32(
    x: number,
    out: number,
    w: number,
    b: number,
    rows: number,
    cols: number,
    groups: number,
    eps: number,
    rms: number,
  ): void;
  rwkv7_mix(...args: number[]): void;
  causal_conv(
    window: number,
    src: number,
    stride: number,
    w: number,
    bias: number,
    out: number,
    tokens: number,
    channels: number,
    k: number,
  ): void;
}

type Kernel = (...args: number[]) => void;

const PAGE = 65536;
const ALIGN = 64;
/**
 * Calls with at least this many multiply-adds are always split: a hand-off's cost (tens of µs) is
 * small beside them, and a split-or-not trial on a busy machine is too noisy to beat that rule
 * (bench/threads.ts). Below it — one token's matrices, 0.1–0.3 ms — the choice is measured.
 */
const ALWAYS_SPLIT = 1 << 23;
const STACK = 65536;
const op = (name: typeof OPS[number]) => OPS.indexOf(name);
/** Where part i of `parts` starts when [0, n) is cut into parts aligned to `align` (part `parts` ends at n). */
const bounds = (n: number, align: number, parts: number) => (i: number) =>
  i >= parts ? n : Math.min(n, Math.round((n * i) / parts / align) * align);

/** Options of {@linkcode createWasmBackend}. */
export interface WasmBackendOptions {
  /** Bytes of weights and buffers this backend will be asked to hold; its memory is sized once from it. */
  capacity: number;
  /** The widest matrix (columns) matvec and matmul will see; sizes the scratch buffers. */
  maxCols?: number;
  /** Threads to run kernels on (default 1). More than one needs shared WASM memory and workers. */
  threads?: number;
  /** Calls with less work than this (multiply-adds) stay on one thread (default 2^17; tests use 0). */
  minParallelWork?: number;
  /**
   * Split a call between threads only where that measured faster for its kind (default); false
   * splits every call past minParallelWork (tests of the threaded kernels).
   */
  adaptiveSplit?: boolean;
  /**
   * Run consecutive independent matmuls of an op list as one threaded job, one hand-off for all
   * (default); false runs each on its own (benches compare the two).
   */
  groupCalls?: boolean;
  /** Force the plain-SIMD128 build (no relaxed SIMD), as runtimes without relaxed SIMD get; tests use it. */
  baseline?: boolean;
}

/**
 * The WASM-SIMD backend. Its memory is allocated once, at the size the caller
 * asks for, so views handed out by `f32()` and `matrix()` never go stale. With
 * `threads > 1`, large calls are split by rows (matvec, matmul) or heads (wkv7)
 * between the caller and workers on shared memory.
 */
export async function createWasmBackend(options: WasmBackendOptions): Promise<Backend> {
  if (!wasmSimdSupported()) throw new Error("This runtime lacks WASM SIMD: use the reference backend");
  const threads = Math.max(1, Math.floor(options.threads ?? 1));
  if (threads > 1 && !wasmThreadsSupported()) {
    throw new Error("This runtime cannot share WASM memory with workers");
  }
  const minWork = options.minParallelWork ?? 1 << 17;
  const scratchFloats = 4 * (options.maxCols ?? 16384);
  const bytes = options.capacity + threads * (scratchFloats * 4 + STACK + ALIGN) + 16 * PAGE;
  const pages = Math.ceil(bytes / PAGE);
  if (pages > 65536) {
    throw new RangeError(`A WASM backend holds at most 4 GiB; ${bytes} bytes were asked for`);
  }
  const shared = threads > 1;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: shared ? 65536 : pages, shared });
  const relaxed = wasmRelaxedSimdSupported() && !options.baseline;
  if (shared && options.baseline) throw new Error("The baseline build is single-threaded");
  const module = await kernelModule(shared ? "threads" : relaxed ? "single" : "baseline");
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const k = instance.exports as unknown as Record<typeof OPS[number], Kernel>;
  const ew = instance.exports as unknown as ElementwiseExports;
  const permute8 = instance.exports.permute8 as (
    x: number,
    tokens: number,
    cols: number,
    inverse: number,
  ) => void;
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
  const scratch = Array.from({ length: threads }, () => alloc(scratchFloats * 4));
  const pool = shared
    ? await ThreadPool.start(module, memory, Array.from({ length: threads - 1 }, () => alloc(STACK) + STACK))
    : undefined;

  function ptr(a: Float32Array | Uint16Array): number {
    if (a.buffer !== buffer) {
      throw new TypeError("Buffers passed to the WASM backend must come from its f32()");
    }
    return a.byteOffset;
  }

  // Splits [0, n) into the pool's parts (aligned to `align`) and runs part(i, from, to) on each
  // thread, or, for a call under ALWAYS_SPLIT multiply-adds (n × `work`), runs it all on the caller
  // where that measured faster for this kind of call (split_choice.ts). Either way, the same results.
  const choice = options.adaptiveSplit === false ? undefined : new SplitChoice();
  function split(
    name: typeof OPS[number],
    n: number,
    align: number,
    part: (i: number, a: number, b: number) => number[],
    work: number,
  ) {
    const parts = pool!.threads, bound = bounds(n, align, parts);
    const divided = () => {
      const args = Array.from({ length: parts - 1 }, (_, i) => part(i + 1, bound(i + 1), bound(i + 2)));
      pool!.run(op(name), args, () => k[name](...part(0, 0, bound(1))));
    };
    if (!choice || n * work >= ALWAYS_SPLIT) return divided();
    choice.run(`${name} ${n} ${work}`, divided, () => k[name](...part(0, 0, n)));
  }

  // One float matmul as the pool runs it: its kernel, each thread's arguments for rows [r0, r1),
  // and the memory it touches (call_groups.ts).
  function floatCall(m: Matrix, x: Float32Array, y: Float32Array, tokens: number) {
    const group = typeof m.handle === "number";
    const w = group ? m.handle as number : ptr(hostData(m) as Float32Array);
    const name = `matmul_${m.dtype as "f32" | "f16" | "bf16"}${group ? "_g8" : ""}` as const;
    const size = dtypeBytes(m.dtype);
    const [xp, yp] = [ptr(x), ptr(y)];
    const part = (
      i: number,
      r0: number,
      r1: number,
    ) => [w + r0 * m.cols * size, xp, yp + 4 * r0, r1 - r0, m.cols, tokens, scratch[i], m.rows];
    // 16-bit kernels take each 8-column group of x as its even then its odd elements (matmul.c).
    const permute = m.dtype !== "f32" && m.cols >= 8 ? m.cols : 0;
    const span: CallSpan = {
      x: [xp, xp + 4 * tokens * m.cols],
      out: [yp, yp + 4 * tokens * m.rows],
      permute,
      groupable: true,
    };
    return { name, rows: m.rows, align: group ? 8 : 4, part, work: m.rows * m.cols * tokens, tokens, span };
  }
  type FloatCall = ReturnType<typeof floatCall>;

  // One call on its own: split where that pays (see split), else on the caller.
  function runCall(c: FloatCall): void {
    const { permute, x: [xp] } = c.span;
    if (permute) permute8(xp, c.tokens, permute, 0);
    try {
      if (pool && c.work >= minWork) split(c.name, c.rows, c.align, c.part, c.work / c.rows);
      else k[c.name](...c.part(0, 0, c.rows));
    } finally {
      if (permute) permute8(xp, c.tokens, permute, 1);
    }
  }

  // Runs `fn` with the x of each call that needs it permuted (each distinct x once), then restores it.
  function permuted(calls: readonly FloatCall[], fn: () => void): void {
    const xs = new Map(calls.filter((c) => c.span.permute).map((c) => [c.span.x[0], c]));
    for (const [xp, c] of xs) permute8(xp, c.tokens, c.span.permute, 0);
    try {
      fn();
    } finally {
      for (const [xp, c] of xs) permute8(xp, c.tokens, c.span.permute, 1);
    }
  }

  // Independent matmuls as one job (call_groups.ts): each thread runs its row share of each, then
  // one join; or, under ALWAYS_SPLIT work in all, all on the caller where that measured faster. A
  // group none of whose calls would be split alone (each under minWork: the small LoRA halves) stays
  // on the caller: grouping merges hand-offs, it does not add any.
  function runGroup(group: readonly FloatCall[]): void {
    if (group.every((c) => c.work < minWork)) return group.forEach(runCall);
    const work = group.reduce((sum, c) => sum + c.work, 0);
    const alone = () => group.forEach((c) => k[c.name](...c.part(0, 0, c.rows)));
    permuted(group, () => {
      const parts = pool!.threads;
      const shares = group.map((c) => bounds(c.rows, c.align, parts));
      const calls = (i: number) =>
        group.flatMap((c, j) => {
          const [r0, r1] = [shares[j](i), shares[j](i + 1)];
          return r1 > r0 ? [[op(c.name), ...c.part(i, r0, r1)]] : [];
        });
      const divided = () =>
        pool!.runList(
          Array.from({ length: parts - 1 }, (_, i) => calls(i + 1)),
          () => calls(0).forEach(([name, ...args]) => k[OPS[name]](...args)),
        );
      if (!choice || work >= ALWAYS_SPLIT) return divided();
      choice.run(group.map((c) => `${c.name} ${c.rows} ${c.work}`).join(" + "), divided, alone);
    });
  }

  // Consecutive matmuls of an op list: independent float ones run as groups, the rest one by one.
  function matmuls(calls: readonly MatmulCall[]): void {
    // None would be split: nothing to group (and no planning to pay for, per token, on a small model).
    if (calls.every(({ m, tokens }) => m.rows * m.cols * tokens < minWork)) {
      return calls.forEach(({ m, x, y, tokens }) => kernels.matmul(m, x, y, tokens));
    }
    const floats = calls.map(({ m, x, y, tokens }) =>
      isQuantized(m.dtype) || m.cols > scratchFloats / 4 ? undefined : floatCall(m, x, y, tokens)
    );
    const alone: CallSpan = { x: [0, 0], out: [0, 0], permute: 0, groupable: false };
    let at = 0;
    for (const n of groupCalls(floats.map((c) => c?.span ?? alone), MAX_CALLS)) {
      if (n > 1) runGroup(floats.slice(at, at + n) as FloatCall[]);
      else kernels.matmul(calls[at].m, calls[at].x, calls[at].y, calls[at].tokens);
      at += n;
    }
  }

  // q8/q4 weights (quantized.ts): rows split between threads in groups of 4.
  const quantized = quantizedKernels({
    exports: instance.exports,
    buffer,
    alloc,
    ptr,
    scratch: scratch[0],
    run(name, rows, part, work) {
      if (pool && work >= minWork) split(name, rows, 4, part, work / rows);
      else k[name](...part(0, 0, rows));
    },
  });

  const kernels: CpuKernels & Pick<Backend, "matrix" | "f32" | "matvec"> = {
    matrix(src: MatrixSource): Matrix {
      if (isQuantized(src.dtype)) return quantized.place(src as MatrixSource & { dtype: "q8" | "q4" });
      const at = alloc(src.bytes.byteLength);
      if (!groupable(src)) new Uint8Array(buffer, at, src.bytes.byteLength).set(src.bytes);
      const n = src.rows * src.cols;
      if (groupable(src)) {
        // Its elements are not in row order: no `data` for host readers, only where they start.
        groupRows(src, new Uint8Array(buffer, at, src.bytes.byteLength));
        return { rows: src.rows, cols: src.cols, dtype: src.dtype, handle: at };
      }
      const data = src.dtype === "f32" ? new Float32Array(buffer, at, n) : new Uint16Array(buffer, at, n);
      return { rows: src.rows, cols: src.cols, dtype: src.dtype, data };
    },
    f32(length: number): Float32Array {
      return new Float32Array(buffer, alloc(length * 4), length);
    },
    matvec(m, x, y) {
      if (isQuantized(m.dtype) || m.handle !== undefined) return kernels.matmul(m, x, y, 1);
      if (m.cols > scratchFloats) throw new RangeError(`Matrix has ${m.cols} columns, above maxCols`);
      const name = `matvec_${m.dtype as "f32" | "f16" | "bf16"}` as const;
      const size = dtypeBytes(m.dtype);
      const [w, xp, yp] = [ptr(hostData(m) as Float32Array), ptr(x), ptr(y)];
      const part = (
        i: number,
        r0: number,
        r1: number,
      ) => [w + r0 * m.cols * size, xp, yp + 4 * r0, r1 - r0, m.cols, scratch[i]];
      if (pool && m.rows * m.cols >= minWork) split(name, m.rows, 2, part, m.cols);
      else k[name](...part(0, 0, m.rows));
    },
    matmul(m, x, y, tokens) {
      if (m.cols > scratchFloats / 4) throw new RangeError(`Matrix has ${m.cols} columns, above maxCols`);
      if (isQuantized(m.dtype)) return quantized.matmul(m, x, y, tokens);
      runCall(floatCall(m, x, y, tokens));
    },
    matmuls: pool && options.groupCalls !== false ? matmuls : undefined,
    unary(fn, x, out, bias, { rows, cols, k: scale }) {
      const id = UNARY_IDS.indexOf(fn);
      if (id < 0) return false;
      ew.unary_f32(id, ptr(x), ptr(out), bias ? ptr(bias) : 0, rows, cols, scale);
      return true;
    },
    shiftMix(x, saved, coef, out, { tokens, cols, lerp }) {
      ew.shift_mix(ptr(x), ptr(saved), ptr(coef), ptr(out), tokens, cols, lerp ? 1 : 0);
    },
    norm(rms, x, out, w, b, { n, cols, groups, eps }) {
      ew.norm_f32(ptr(x), ptr(out), w ? ptr(w) : 0, b ? ptr(b) : 0, n, cols, groups, eps, rms ? 1 : 0);
    },
    causalConv(window, src, weight, bias, out, { tokens, channels, k, stride }) {
      ew.causal_conv(
        ptr(window),
        ptr(src),
        stride,
        ptr(weight),
        bias ? ptr(bias) : 0,
        ptr(out),
        tokens,
        channels,
        k,
      );
    },
    rwkv7Mix(io, p, { rows, cols, heads }) {
      const at = [io.w, io.a, io.k, io.kk, io.b, p.w0, p.a0, p.kK, p.kA].map(ptr);
      ew.rwkv7_mix(...at, rows, cols, heads);
    },
    wkv7(state: Float32Array, io: Wkv7Inputs, shape: Wkv7Shape) {
      const { tokens, heads, headSize: n } = shape;
      const p = [io.r, io.w, io.k, io.v, io.a, io.b, io.y].map(ptr);
      const s = ptr(state);
      const part = (_i: number, h0: number, h1: number) => [
        s + 4 * h0 * n * n,
        ...p.map((q) => q + 4 * h0 * n),
        tokens,
        h1 - h0,
        n,
        heads * n,
      ];
      if (pool && heads >= pool.threads && tokens * heads * n * n >= minWork / 2) {
        split("wkv7", heads, 1, part, tokens * n * n);
      } else k.wkv7(...part(0, 0, heads));
    },
    selectiveScan(state, io, shape) {
      const { tokens, channels: I, stateSize: N } = shape;
      const [s, x, dt, a, b, c, d, z, y] = [state, io.x, io.dt, io.a, io.b, io.c, io.d, io.z, io.y].map(ptr);
      const part = (_i: number, c0: number, c1: number) => [
        s + 4 * c0 * N,
        x + 4 * c0,
        dt + 4 * c0,
        a + 4 * c0 * N,
        b,
        c,
        d + 4 * c0,
        z + 4 * c0,
        y + 4 * c0,
        tokens,
        c1 - c0,
        N,
        I,
      ];
      if (pool && tokens * I * N >= minWork / 2) split("selective_scan", I, 1, part, tokens * N);
      else k.selective_scan(...part(0, 0, I));
    },
    ssdScan(state, io, shape) {
      const { tokens, heads: H, headDim: P, stateSize: N, groups: G } = shape;
      const p = [state, io.x, io.dt, io.dA, io.b, io.c, io.d, io.y].map(ptr);
      const part = (_i: number, h0: number, h1: number) => [...p, tokens, H, P, N, G, h0, h1];
      if (pool && H >= pool.threads && tokens * H * P * N >= minWork / 2) {
        split("ssd_scan", H, 1, part, tokens * P * N);
      } else k.ssd_scan(...part(0, 0, H));
    },
    retention(kv, io, shape) {
      const { tokens, heads: H, keyDim: DK, valueDim: DV } = shape;
      const p = [kv, io.q, io.k, io.v, io.keep, io.add, io.o].map(ptr);
      const part = (_i: number, h0: number, h1: number) => [...p, tokens, H, DK, DV, h0, h1];
      if (pool && H >= pool.threads && tokens * H * DK * DV >= minWork / 2) {
        split("retention", H, 1, part, tokens * DK * DV);
      } else k.retention(...part(0, 0, H));
    },
    wkv4(state, io, shape) {
      const { tokens, channels: A } = shape;
      const p = [state.num, state.den, state.max, io.w, io.u, io.k, io.v, io.out].map(ptr);
      const part = (_i: number, c0: number, c1: number) => [...p, tokens, A, c0, c1];
      if (pool && tokens * A * 16 >= minWork / 2) split("wkv4", A, 4, part, tokens);
      else k.wkv4(...part(0, 0, A));
    },
  };
  return {
    name: "wasm",
    threads,
    close: () => pool?.close(),
    handOffs: () => pool?.jobs ?? 0,
    ...kernels,
    ...cpuOpMethods(kernels, kernels.f32),
  };
}
