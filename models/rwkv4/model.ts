import type { Backend, Matrix } from "../../kernels/mod.ts";
import { layerNorm, sigmoid } from "../shared/norms.ts";
import { embedTokens, forEachChunk, toBackend } from "../shared/recurrent.ts";
import type { ModelInfo, RecurrentModel, RecurrentState } from "../types.ts";
import { Rwkv4State, rwkv4StateParts, rwkv4StateSize } from "./state.ts";
import type { Rwkv4Layer, Rwkv4Weights } from "./weights.ts";

/**
 * An RWKV-4 model over weights placed in `backend`, computing what HF's RwkvForCausalLM
 * computes at inference: including its rescaling (the output and channel-mix value
 * projections of block i scaled by 2^-(i div rescale_every), the residual stream halved
 * after every rescale_every blocks; scaling by powers of two is exact).
 */
export function createRwkv4Model(
  weights: Rwkv4Weights,
  backend: Backend,
  options: { chunk: number },
): RecurrentModel {
  const d = weights.dims;
  const { nEmbd: C, att: A, ffn: F } = d;
  const T = options.chunk;
  const f = (n: number) => backend.f32(n);
  const buf = {
    x: f(T * C), // [T][C] residual stream
    h: f(T * C), // [T][C] normed input of the sub-block
    mk: f(T * C), // [T][C] token-shift mixes
    mv: f(T * C),
    mr: f(T * C),
    k: f(T * Math.max(A, F)), // [T][A] keys, or [T][F] channel-mix hidden
    v: f(T * A),
    r: f(T * Math.max(A, C)),
    out: f(T * C),
    wkv: f(T * A),
    num: f(A), // one layer's WKV state while it is updated
    den: f(A),
    max: f(A),
    last: f(C),
    logits: f(d.vocab),
  };
  const info: ModelInfo = {
    family: "rwkv4",
    vocabSize: d.vocab,
    weightDType: weights.dtype,
    stateParts: rwkv4StateParts(d),
    stateSize: rwkv4StateSize(d),
    dims: {
      n_layer: d.nLayer,
      n_embd: C,
      attention_hidden_size: A,
      intermediate_size: F,
      vocab_size: d.vocab,
    },
  };
  const dev = (a: Float32Array) => toBackend(backend, a);
  const wkvConsts = weights.layers.map((l) => ({ w: dev(l.att.decay), u: dev(l.att.first) }));
  const mm = (m: Matrix, x: Float32Array, y: Float32Array, n: number) =>
    n === 1 ? backend.matvec(m, x, y) : backend.matmul(m, x, y, n);

  function shift(saved: Float32Array, so: number, n: number, mixes: [Float32Array, Float32Array][]) {
    const h = buf.h;
    for (let t = 0; t < n; t++) {
      const o = t * C;
      for (let c = 0; c < C; c++) {
        const cur = h[o + c];
        const prev = t === 0 ? saved[so + c] : h[o - C + c];
        for (const [mix, out] of mixes) out[o + c] = cur * mix[c] + prev * (1 - mix[c]);
      }
    }
    saved.set(h.subarray((n - 1) * C, n * C), so);
  }

  function timeMix(i: number, layer: Rwkv4Layer, st: Rwkv4State, n: number, scale: number) {
    const att = layer.att;
    for (let t = 0; t < n; t++) layerNorm(buf.x, t * C, buf.h, t * C, layer.ln1);
    shift(st.attX, i * C, n, [[att.mixK, buf.mk], [att.mixV, buf.mv], [att.mixR, buf.mr]]);
    mm(att.key, buf.mk, buf.k, n);
    mm(att.value, buf.mv, buf.v, n);
    mm(att.receptance, buf.mr, buf.r, n);
    const { k, v, r } = buf;
    const so = i * A;
    buf.num.set(st.num.subarray(so, so + A));
    buf.den.set(st.den.subarray(so, so + A));
    buf.max.set(st.max.subarray(so, so + A));
    const kc = wkvConsts[i];
    backend.wkv4({ num: buf.num, den: buf.den, max: buf.max }, { w: kc.w, u: kc.u, k, v, out: buf.wkv }, {
      tokens: n,
      channels: A,
    });
    st.num.set(buf.num, so);
    st.den.set(buf.den, so);
    st.max.set(buf.max, so);
    for (let idx = 0; idx < n * A; idx++) r[idx] = sigmoid(r[idx]) * buf.wkv[idx];
    mm(att.output, r, buf.out, n);
    for (let idx = 0; idx < n * C; idx++) buf.x[idx] += buf.out[idx] * scale;
  }

  function channelMix(i: number, layer: Rwkv4Layer, st: Rwkv4State, n: number, scale: number) {
    const ffn = layer.ffn;
    for (let t = 0; t < n; t++) layerNorm(buf.x, t * C, buf.h, t * C, layer.ln2);
    shift(st.ffnX, i * C, n, [[ffn.mixK, buf.mk], [ffn.mixR, buf.mr]]);
    const hidden = buf.k.subarray(0, n * F);
    mm(ffn.key, buf.mk, hidden, n);
    for (let idx = 0; idx < n * F; idx++) {
      const x = hidden[idx] > 0 ? hidden[idx] : 0;
      hidden[idx] = x * x;
    }
    mm(ffn.value, hidden, buf.out, n);
    mm(ffn.receptance, buf.mr, buf.r, n);
    for (let idx = 0; idx < n * C; idx++) buf.x[idx] += sigmoid(buf.r[idx]) * (buf.out[idx] * scale);
  }

  function runChunk(tokens: ArrayLike<number>, st: Rwkv4State) {
    const n = tokens.length;
    embedTokens(weights.emb, tokens, buf.x);
    for (let t = 0; t < n; t++) layerNorm(buf.x, t * C, buf.x, t * C, weights.preLn);
    weights.layers.forEach((layer, i) => {
      const scale = d.rescaleEvery > 0 ? 2 ** -Math.floor(i / d.rescaleEvery) : 1;
      timeMix(i, layer, st, n, scale);
      channelMix(i, layer, st, n, scale);
      if (d.rescaleEvery > 0 && (i + 1) % d.rescaleEvery === 0) {
        for (let idx = 0; idx < n * C; idx++) buf.x[idx] /= 2;
      }
    });
    layerNorm(buf.x, (n - 1) * C, buf.last, 0, weights.lnOut);
  }

  return {
    info,
    backend,
    newState: () => new Rwkv4State(d),
    forward(tokens: ArrayLike<number>, state: RecurrentState): Float32Array {
      const st = state instanceof Rwkv4State ? state : new Rwkv4State(d, state.data);
      forEachChunk(tokens, T, (part) => runChunk(part, st));
      backend.matvec(weights.head, buf.last, buf.logits);
      return buf.logits.slice();
    },
  };
}
