// The op cases of tests/webgpu_test.ts: each builds one op list on a backend from a seeded stream
// (so the reference and WebGPU get the same inputs) and names the tensors to compare after it runs.
import type { MatrixSource, Op, Rows, WeightDType } from "../../kernels/mod.ts";
import type { Built, Inputs } from "./webgpu.ts";

/** Matmul, norms and element-wise ops: f32 sums in another order than the reference's f64 ones. */
export const TOL_F32 = 1e-4;
/** Recurrences over a few tokens (f32 state, GPU exp). */
export const TOL_RECURRENCE = 2e-4;

/** Six rows in three runs: slot 2 (three tokens), slot 0 (one), slot 1 (two). */
function rowTable(inp: Inputs): Rows {
  return { slot: inp.ints([2, 2, 2, 0, 1, 1]), first: inp.ints([1, 0, 0, 1, 1, 0]) };
}

/** Random weights as a backend is handed them (f16: halves below 256, subnormals included). */
function matrixSource(inp: Inputs, rows: number, cols: number, dtype: WeightDType): MatrixSource {
  if (dtype === "f32") {
    const f = Float32Array.from({ length: rows * cols }, () => inp.next());
    return { rows, cols, dtype, bytes: new Uint8Array(f.buffer) };
  }
  const bits = Uint16Array.from({ length: rows * cols }, () => {
    if (dtype === "f16") return Math.floor(inp.next(0, 0x5c00)) | (inp.next() < 0 ? 0x8000 : 0);
    return new Uint32Array(Float32Array.of(inp.next()).buffer)[0] >>> 16;
  });
  return { rows, cols, dtype, bytes: new Uint8Array(bits.buffer) };
}

/** A case: its name, its tolerance and how to build it. */
export type Case = [name: string, tol: number, build: (inp: Inputs) => Built];

/** Every op kind, on odd shapes and over a row table of three runs. */
export const OP_CASES: Case[] = [];
for (const dtype of ["f32", "bf16", "f16"] as const) {
  for (const [rows, cols, n] of [[7, 24, 3], [33, 65, 9]]) {
    OP_CASES.push([`matmul ${dtype} ${rows}x${cols}, ${n} tokens`, TOL_F32, (inp) => {
      const w = inp.backend.matrix(matrixSource(inp, rows, cols, dtype));
      const x = inp.random(n, cols), out = inp.random(n, rows);
      return { ops: [{ op: "matmul", w, x, out, n }], outputs: { out } };
    }]);
  }
  OP_CASES.push([`embed ${dtype} (odd width)`, 0, (inp) => {
    const table = inp.backend.matrix(matrixSource(inp, 11, 13, dtype));
    const ids = inp.ints([3, 0, 10, 3]), out = inp.random(4, 13);
    return { ops: [{ op: "embed", table, ids, out, n: 4 }], outputs: { out } };
  }]);
}
OP_CASES.push(
  ["embed from a host matrix", 0, (inp) => {
    const src = matrixSource(inp, 9, 6, "bf16");
    const table = { ...src, data: new Uint16Array(src.bytes.buffer) };
    const ids = inp.ints([8, 1]), out = inp.random(2, 6);
    return { ops: [{ op: "embed", table, ids, out, n: 2 }], outputs: { out } };
  }],
  ["scatter and argmax (ties, NaN, -Infinity)", 0, (inp) => {
    const C = 150, rows = 6;
    const v = Float32Array.from({ length: rows * C }, () => inp.next(-4, 4));
    v[1 * C + 140] = v[1 * C + 3] = v[1 * C + 77] = 9; // a three-way tie: the first wins
    v[2 * C] = NaN; // a NaN first value: 0, as the host's scan
    v[3 * C + 5] = NaN, v[3 * C + 100] = 9; // a NaN elsewhere is passed over
    v.fill(-Infinity, 4 * C, 5 * C); // nothing above -Infinity: 0
    v.fill(2.5, 5 * C, 6 * C); // all equal: 0
    const x = inp.values(rows, C, v), picks = inp.values(rows, 1, new Int32Array(rows).fill(-7));
    const kept = inp.random(4, C), index = inp.ints([3, 0]);
    const ops: Op[] = [
      { op: "argmax", x, out: picks, n: rows },
      { op: "scatter", x, index, out: kept, n: 2 },
    ];
    return { ops, outputs: { picks, kept } };
  }],
  ["gather and slice", 0, (inp) => {
    const x = inp.random(5, 12), index = inp.ints([4, 0, 2]), g = inp.random(3, 12), s = inp.random(5, 5);
    const ops: Op[] = [{ op: "gather", x, index, out: g, n: 3 }, { op: "slice", x, offset: 7, out: s, n: 4 }];
    return { ops, outputs: { g, s } };
  }],
  ["copyRows, and gather and scatter of i32 ids", 0, (inp) => {
    const x = inp.random(4, 7), out = inp.random(4, 7), index = inp.ints([3, 1]);
    const ids = inp.ints([40000, 7, -3, 65535]), g = inp.ints([0, 0, 0]), s = inp.ints([9, 9, 9, 9, 9]);
    const ops: Op[] = [
      { op: "copyRows", x, index, out, n: 2 },
      { op: "gather", x: ids, index: inp.ints([2, 0, 3]), out: g, n: 3 },
      { op: "scatter", x: ids, index: inp.ints([4, 0]), out: s, n: 2 },
    ];
    return { ops, outputs: { out, g, s } };
  }],
);
for (
  const [label, rms, groups, affine] of [
    ["layer norm with affine", false, 1, true],
    ["rms norm with weight", true, 1, true],
    ["group norm (4 groups) with affine", false, 4, true],
    ["per-head rms norm, in place", true, 4, false],
  ] as const
) {
  OP_CASES.push([label, TOL_F32, (inp) => {
    const x = inp.random(5, 96, -3, 3), out = affine ? inp.random(5, 96) : x;
    const weight = affine ? inp.random(1, 96) : undefined,
      bias = affine && !rms ? inp.random(1, 96) : undefined;
    return { ops: [{ op: "norm", rms, x, out, weight, bias, groups, eps: 1e-5, n: 4 }], outputs: { out } };
  }]);
}
for (const fn of ["tanh", "sigmoid", "silu", "relu", "relu2", "gelu", "softplus", "scale"] as const) {
  OP_CASES.push([`unary ${fn} with bias`, TOL_F32, (inp) => {
    const x = inp.random(4, 40, -30, 30), bias = inp.random(1, 40), out = inp.random(4, 40);
    return { ops: [{ op: "unary", fn, x, out, bias, k: 0.37, n: 3 }], outputs: { out } };
  }]);
}
for (const fn of ["add", "mul", "mulSilu"] as const) {
  OP_CASES.push([`binary ${fn}, full and broadcast`, TOL_F32, (inp) => {
    const a = inp.random(4, 24, -4, 4), b = inp.random(4, 24, -4, 4), row = inp.random(1, 24);
    const out = inp.random(4, 24);
    const ops: Op[] = [
      { op: "binary", fn, a, b, out, n: 4 },
      { op: "binary", fn, a, b: row, out: a, n: 3 },
    ];
    return { ops, outputs: { out, a } };
  }]);
}
OP_CASES.push(
  ["residual: scale, bias, gate", TOL_F32, (inp) => {
    const x = inp.random(4, 24),
      y = inp.random(4, 24),
      gate = inp.random(4, 24, -3, 3),
      bias = inp.random(1, 24);
    const ops: Op[] = [
      { op: "residual", x, y, scale: 0.5, n: 4 },
      { op: "residual", x, y, bias, scale: 1, n: 3 },
      { op: "residual", x, y, gate, scale: 0.25, n: 4 },
    ];
    return { ops, outputs: { x } };
  }],
);
for (const form of ["lerp", "mix"] as const) {
  OP_CASES.push([`token shift ${form}, three runs`, TOL_F32, (inp) => {
    const arena = inp.random(4, 40), x = inp.random(6, 16), rows = rowTable(inp);
    const mixes = [0, 1].map(() => ({ coef: inp.random(1, 16, 0, 1), out: inp.random(6, 16) }));
    const state = { arena, offset: 8, size: 16 };
    return {
      ops: [{ op: "tokenShift", form, x, state, rows, mixes, n: 6 }],
      outputs: { out0: mixes[0].out, out1: mixes[1].out, arena },
    };
  }]);
}
for (const [C, K] of [[12, 4], [14, 3]]) {
  OP_CASES.push([`causal conv, ${C} channels of width ${K}, three runs`, TOL_F32, (inp) => {
    const arena = inp.random(3, C * K + 5), src = inp.random(6, C + 7), rows = rowTable(inp);
    const weight = inp.random(1, C * K), bias = inp.random(1, C), out = inp.random(6, C);
    const state = { arena, offset: 5, size: C * K };
    return {
      ops: [{ op: "causalConv", src, offset: 7, channels: C, k: K, weight, bias, state, rows, out, n: 6 }],
      outputs: { out, arena },
    };
  }]);
}
OP_CASES.push(
  ["rwkv7 mix, value and bonus", TOL_F32, (inp) => {
    const [H, C] = [3, 24];
    const t = () => inp.random(5, C), row = () => inp.random(1, C);
    const [w, a, k, kk, b, v, vFirst, mix, y, r, g] = [t(), t(), t(), t(), t(), t(), t(), t(), t(), t(), t()];
    const ops: Op[] = [
      { op: "rwkv7Mix", w, a, k, kk, b, w0: row(), a0: row(), kK: row(), kA: row(), heads: H, n: 4 },
      { op: "rwkv7Value", v, vFirst, mix, v0: row(), n: 4 },
      { op: "rwkv7Bonus", y, r, k, v, g, rK: row(), heads: H, n: 4 },
    ];
    return { ops, outputs: { w, a, k, kk, b, v, y } };
  }],
  ["wkv7, three runs", TOL_RECURRENCE, (inp) => {
    const [H, N] = [2, 8];
    const C = H * N, arena = inp.random(3, 3 + H * N * N, -0.5, 0.5), rows = rowTable(inp);
    const t = (lo = -1, hi = 1) => inp.random(6, C, lo, hi);
    const [r, w, k, v, a, b, y] = [t(), t(0.5, 1), t(), t(), t(-0.3, 0.3), t(-0.3, 0.3), t()];
    const state = { arena, offset: 3, size: H * N * N };
    return {
      ops: [{ op: "wkv7", r, w, k, v, a, b, y, heads: H, headSize: N, state, rows, n: 6 }],
      outputs: { y, arena },
    };
  }],
  ["wkv4, three runs", TOL_RECURRENCE, (inp) => {
    const C = 10, arena = inp.random(3, 3 * C + 1), rows = rowTable(inp);
    const part = (i: number) => ({ arena, offset: 1 + i * C, size: C });
    const [w, u] = [inp.random(1, C, -1, -0.1), inp.random(1, C)];
    const [k, v, out] = [inp.random(6, C, -3, 3), inp.random(6, C), inp.random(6, C)];
    const op: Op = { op: "wkv4", w, u, k, v, out, num: part(0), den: part(1), max: part(2), rows, n: 6 };
    return { ops: [op], outputs: { out, arena } };
  }],
  ["selective scan, three runs", TOL_RECURRENCE, (inp) => {
    const [I, N] = [6, 5];
    const arena = inp.random(3, I * N + 2), rows = rowTable(inp);
    const [x, dt, z, y] = [inp.random(6, I), inp.random(6, I, 0, 0.5), inp.random(6, I), inp.random(6, I)];
    const [a, d, b, c] = [inp.random(1, I * N, -2, 0), inp.random(1, I), inp.random(6, N), inp.random(6, N)];
    const state = { arena, offset: 2, size: I * N };
    const op: Op = { op: "selectiveScan", x, dt, a, b, c, d, z, y, stateSize: N, state, rows, n: 6 };
    return { ops: [op], outputs: { y, arena } };
  }],
  ["ssd step and scan, three runs", TOL_RECURRENCE, (inp) => {
    const [H, P, N, G] = [4, 3, 5, 2];
    const arena = inp.random(3, H * P * N), rows = rowTable(inp);
    const src = inp.random(6, H + 3, -4, 4), dt = inp.random(6, H), dA = inp.random(6, H);
    const [x, y, b, c] = [
      inp.random(6, H * P),
      inp.random(6, H * P),
      inp.random(6, G * N),
      inp.random(6, G * N),
    ];
    const ops: Op[] = [
      {
        op: "ssdStep",
        src,
        offset: 3,
        bias: inp.random(1, H),
        negA: inp.random(1, H, -2, -0.1),
        min: 0.01,
        max: 2,
        dt,
        dA,
        n: 6,
      },
      {
        op: "ssdScan",
        ...{ x, dt, dA, b, c, d: inp.random(1, H), y, heads: H, headDim: P, stateSize: N, groups: G },
        ...{ state: { arena, offset: 0, size: H * P * N }, rows, n: 6 },
      },
    ];
    return { ops, outputs: { dt, dA, y, arena } };
  }],
  ["retnet rotate, retention and advance, three runs", TOL_RECURRENCE, (inp) => {
    const [H, DK, DV] = [2, 6, 4];
    const kv = H * DV * DK, width = kv + H + 1, rows = rowTable(inp);
    const state = Float32Array.from({ length: 3 * width }, () => inp.next(0, 1));
    // Positions far from 0, where an f32 sine needs its argument reduced.
    for (const s of [0, 1, 2]) state[s * width + kv + H] = 500 + 700 * s;
    const arena = inp.values(3, width, state);
    const [q, k, v, o] = [
      inp.random(6, H * DK),
      inp.random(6, H * DK),
      inp.random(6, H * DV),
      inp.random(6, H * DV),
    ];
    const [keep, add] = [inp.random(6, H), inp.random(6, H)];
    const angle = inp.values(1, DK, Float32Array.from({ length: DK }, (_, j) => 1 / 10 ** Math.floor(j / 2)));
    const position = { arena, offset: kv + H, size: 1 }, scale = { arena, offset: kv, size: H };
    const ops: Op[] = [
      {
        op: "retnetRotate",
        ...{ q, k, keep, add, angle, decay: inp.random(1, H, 0.8, 0.99), scaling: DK ** -0.5, heads: H },
        ...{ position, scale, rows, n: 6 },
      },
      {
        op: "retention",
        q,
        k,
        v,
        keep,
        add,
        o,
        heads: H,
        keyDim: DK,
        valueDim: DV,
        rows,
        n: 6,
        state: { arena, offset: 0, size: kv },
      },
      { op: "advance", position, rows, n: 6 },
    ];
    return { ops, outputs: { q, k, keep, add, o, arena } };
  }],
);
