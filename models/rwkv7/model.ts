import type { Backend } from "../../kernels/mod.ts";
import { groupNorm, layerNorm, sigmoid } from "../shared/norms.ts";
import { embedTokens, forEachChunk } from "../shared/recurrent.ts";
import type { ModelInfo, RecurrentModel, RecurrentState } from "../types.ts";
import { Rwkv7State, rwkv7StateParts, rwkv7StateSize } from "./state.ts";
import type { Rwkv7Layer, Rwkv7Weights } from "./weights.ts";

/** exp(-0.5), rounded as the reference implementation writes it. */
const DECAY_SCALE = 0.606531;

/** Working buffers in backend memory, each sized for `chunk` tokens. */
interface Buffers {
  x: Float32Array; // [T][C] residual stream
  xx: Float32Array; // [T][C] normed input of the current sub-block
  xr: Float32Array; // [T][C] token-shift mixes
  xw: Float32Array;
  xk: Float32Array;
  xv: Float32Array;
  xa: Float32Array;
  xg: Float32Array;
  r: Float32Array; // [T][C]
  w: Float32Array;
  k: Float32Array;
  v: Float32Array;
  a: Float32Array;
  g: Float32Array;
  b: Float32Array;
  kk: Float32Array;
  y: Float32Array;
  vFirst: Float32Array;
  low: Float32Array; // [T][max lora dim]
  hidden: Float32Array; // [T][ffn]
  out: Float32Array; // [T][C]
  last: Float32Array; // [C]
  wkv: Float32Array; // [n_head][head_size][head_size] one layer's state while it is updated
  logits: Float32Array; // [vocab]
}

/** Options of {@linkcode createRwkv7Model}. */
export interface Rwkv7Options {
  /** Tokens per prefill chunk (one matmul per weight per chunk). */
  chunk: number;
}

/** An RWKV-7 model over weights already placed in `backend`. */
export function createRwkv7Model(
  weights: Rwkv7Weights,
  backend: Backend,
  options: Rwkv7Options,
): RecurrentModel {
  const d = weights.dims;
  const C = d.nEmbd;
  const T = options.chunk;
  const maxLora = Math.max(
    ...weights.layers.flatMap((l) => [l.att.w1.rows, l.att.a1.rows, l.att.g1.rows, l.att.v?.v1.rows ?? 0]),
  );
  const f = (n: number) => backend.f32(n);
  const buf: Buffers = {
    x: f(T * C),
    xx: f(T * C),
    xr: f(T * C),
    xw: f(T * C),
    xk: f(T * C),
    xv: f(T * C),
    xa: f(T * C),
    xg: f(T * C),
    r: f(T * C),
    w: f(T * C),
    k: f(T * C),
    v: f(T * C),
    a: f(T * C),
    g: f(T * C),
    b: f(T * C),
    kk: f(T * C),
    y: f(T * C),
    vFirst: f(T * C),
    low: f(T * maxLora),
    hidden: f(T * d.ffn),
    out: f(T * C),
    last: f(C),
    wkv: f(d.nHead * d.headSize * d.headSize),
    logits: f(d.vocab),
  };
  const info: ModelInfo = {
    family: "rwkv7",
    vocabSize: d.vocab,
    weightDType: weights.dtype,
    stateParts: rwkv7StateParts(d),
    stateSize: rwkv7StateSize(d),
    dims: { n_layer: d.nLayer, n_embd: C, n_head: d.nHead, head_size: d.headSize, vocab_size: d.vocab },
  };
  const mm = (m: Parameters<Backend["matvec"]>[0], x: Float32Array, y: Float32Array, n: number) =>
    n === 1 ? backend.matvec(m, x, y) : backend.matmul(m, x, y, n);

  function embed(tokens: ArrayLike<number>, n: number) {
    embedTokens(weights.emb, tokens, buf.x);
    for (let t = 0; t < n; t++) layerNorm(buf.x, t * C, buf.x, t * C, weights.ln0);
  }

  function timeMix(i: number, layer: Rwkv7Layer, st: Rwkv7State, n: number) {
    const att = layer.att;
    const { x, xx } = buf;
    for (let t = 0; t < n; t++) layerNorm(x, t * C, xx, t * C, layer.ln1);
    tokenShift(xx, st.attX, i * C, n, C, [
      [att.xR, buf.xr],
      [att.xW, buf.xw],
      [att.xK, buf.xk],
      [att.xV, buf.xv],
      [att.xA, buf.xa],
      [att.xG, buf.xg],
    ]);
    mm(att.receptance, buf.xr, buf.r, n);
    mm(att.key, buf.xk, buf.k, n);
    mm(att.value, buf.xv, buf.v, n);
    lora(att.w1, att.w2, buf.xw, buf.w, n, Math.tanh);
    lora(att.a1, att.a2, buf.xa, buf.a, n, null);
    lora(att.g1, att.g2, buf.xg, buf.g, n, sigmoid);
    const { r, w, k, v, a, g, b, kk } = buf;
    const H = d.nHead, N = d.headSize;
    for (let t = 0; t < n; t++) {
      const o = t * C;
      for (let c = 0; c < C; c++) {
        w[o + c] = Math.exp(-DECAY_SCALE * sigmoid(att.w0[c] + w[o + c]));
        a[o + c] = sigmoid(att.a0[c] + a[o + c]);
        kk[o + c] = k[o + c] * att.kK[c];
      }
      for (let h = 0; h < H; h++) {
        let norm = 0;
        for (let j = 0; j < N; j++) norm += kk[o + h * N + j] ** 2;
        const inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
        for (let j = 0; j < N; j++) kk[o + h * N + j] *= inv;
      }
      for (let c = 0; c < C; c++) {
        k[o + c] = k[o + c] * (1 + (a[o + c] - 1) * att.kA[c]);
        b[o + c] = kk[o + c] * a[o + c];
        kk[o + c] = -kk[o + c];
      }
    }
    if (att.v === undefined) {
      buf.vFirst.set(v.subarray(0, n * C));
    } else {
      const vm = att.v;
      lora(vm.v1, vm.v2, buf.xv, buf.out, n, null);
      for (let t = 0; t < n; t++) {
        for (let c = 0; c < C; c++) {
          const idx = t * C + c;
          v[idx] = v[idx] + (buf.vFirst[idx] - v[idx]) * sigmoid(vm.v0[c] + buf.out[idx]);
        }
      }
    }
    // The WKV state visits backend memory for the update (host states may be many; backend memory is not).
    const stride = H * N * N;
    buf.wkv.set(st.wkv.subarray(i * stride, (i + 1) * stride));
    backend.wkv7(buf.wkv, { r, w, k, v, a: kk, b, y: buf.y }, { tokens: n, heads: H, headSize: N });
    st.wkv.set(buf.wkv, i * stride);
    const y = buf.y;
    for (let t = 0; t < n; t++) {
      const o = t * C;
      groupNorm(y, o, H, att.lnX);
      for (let h = 0; h < H; h++) {
        let bonus = 0;
        for (let j = 0; j < N; j++) {
          const c = h * N + j;
          bonus += r[o + c] * k[o + c] * att.rK[c];
        }
        for (let j = 0; j < N; j++) y[o + h * N + j] += bonus * v[o + h * N + j];
      }
      for (let c = 0; c < C; c++) y[o + c] *= g[o + c];
    }
    mm(att.output, y, buf.out, n);
    for (let idx = 0; idx < n * C; idx++) x[idx] += buf.out[idx];
  }

  function channelMix(i: number, layer: Rwkv7Layer, st: Rwkv7State, n: number) {
    const { x, xx, hidden } = buf;
    for (let t = 0; t < n; t++) layerNorm(x, t * C, xx, t * C, layer.ln2);
    tokenShift(xx, st.ffnX, i * C, n, C, [[layer.ffn.xK, buf.xk]]);
    mm(layer.ffn.key, buf.xk, hidden, n);
    for (let idx = 0; idx < n * d.ffn; idx++) {
      const h = hidden[idx] > 0 ? hidden[idx] : 0;
      hidden[idx] = h * h;
    }
    mm(layer.ffn.value, hidden, buf.out, n);
    for (let idx = 0; idx < n * C; idx++) x[idx] += buf.out[idx];
  }

  // y = up · act(down · x); act null means identity.
  function lora(
    down: Parameters<Backend["matvec"]>[0],
    up: Parameters<Backend["matvec"]>[0],
    x: Float32Array,
    y: Float32Array,
    n: number,
    act: ((v: number) => number) | null,
  ) {
    const low = buf.low.subarray(0, n * down.rows);
    mm(down, x, low, n);
    if (act) { for (let idx = 0; idx < low.length; idx++) low[idx] = act(low[idx]); }
    mm(up, low, y, n);
  }

  function runChunk(tokens: ArrayLike<number>, st: Rwkv7State) {
    const n = tokens.length;
    embed(tokens, n);
    weights.layers.forEach((layer, i) => {
      timeMix(i, layer, st, n);
      channelMix(i, layer, st, n);
    });
    layerNorm(buf.x, (n - 1) * C, buf.last, 0, weights.lnOut);
  }

  return {
    info,
    backend,
    newState: () => new Rwkv7State(d),
    forward(tokens: ArrayLike<number>, state: RecurrentState): Float32Array {
      const st = state instanceof Rwkv7State ? state : new Rwkv7State(d, state.data);
      forEachChunk(tokens, T, (part) => runChunk(part, st));
      backend.matvec(weights.head, buf.last, buf.logits);
      return buf.logits.slice();
    },
  };
}

/**
 * Token shift for n tokens of `xx` ([T][C]): each mix gets x + (prev - x) * coef, where
 * prev is the previous token's row (or the saved row for the first); the saved row
 * becomes the last token's.
 */
function tokenShift(
  xx: Float32Array,
  saved: Float32Array,
  so: number,
  n: number,
  C: number,
  mixes: [Float32Array, Float32Array][],
) {
  for (let t = 0; t < n; t++) {
    const o = t * C;
    for (let c = 0; c < C; c++) {
      const cur = xx[o + c];
      const prev = t === 0 ? saved[so + c] : xx[o - C + c];
      for (const [coef, out] of mixes) out[o + c] = cur + (prev - cur) * coef[c];
    }
  }
  saved.set(xx.subarray((n - 1) * C, n * C), so);
}
