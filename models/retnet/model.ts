import type { Backend, Matrix } from "../../kernels/mod.ts";
import { gelu, rmsNorm, sigmoid } from "../shared/norms.ts";
import { embedTokens, forEachChunk } from "../shared/recurrent.ts";
import type { ModelInfo, RecurrentModel, RecurrentState } from "../types.ts";
import { RetNetState, retnetStateParts, retnetStateSize } from "./state.ts";
import type { RetNetLayer, RetNetWeights } from "./weights.ts";

const ACTIVATIONS = {
  gelu,
  swish: (x: number) => x * sigmoid(x),
  relu: (x: number) => (x > 0 ? x : 0),
};

/**
 * A RetNet decoder computing torchscale's recurrent form: per head, q and k rotated by their
 * position (xPos-free θ shift), kv ← γ·kv·√s/√s' + k⊗v/√s' with s' = γ·s + 1, o = q·kv, then a
 * per-head RMS norm, the SiLU(g) gate, out_proj; a GLU feed-forward; pre-RMSNorm everywhere.
 * Projections run as matvec or matmul over a chunk; the retention recurrence is token by token
 * (equal, after the per-head norm, to the parallel and chunkwise forms).
 */
export function createRetNetModel(
  weights: RetNetWeights,
  backend: Backend,
  options: { chunk: number },
): RecurrentModel {
  const m = weights.dims;
  const { d, dv, heads: H, keyDim: DK, headDim: DV, ffn: F } = m;
  const T = options.chunk;
  const f = (size: number) => backend.f32(size);
  const buf = {
    x: f(T * d),
    h: f(T * d),
    q: f(T * d),
    k: f(T * d),
    v: f(T * dv),
    g: f(T * dv),
    o: f(T * dv),
    keep: f(T * H),
    add: f(T * H),
    kv: f(H * DV * DK), // one layer's retention state while it is updated
    a: f(T * F),
    b: f(T * F),
    out: f(T * d),
    last: f(d),
    logits: f(m.vocab),
  };
  const info: ModelInfo = {
    family: "retnet",
    vocabSize: m.vocab,
    weightDType: weights.dtype,
    stateParts: retnetStateParts(m),
    stateSize: retnetStateSize(m),
    dims: {
      decoder_layers: m.nLayer,
      decoder_embed_dim: d,
      decoder_value_embed_dim: dv,
      decoder_retention_heads: H,
      vocab_size: m.vocab,
    },
  };
  const mm = (w: Matrix, x: Float32Array, y: Float32Array, n: number) =>
    n === 1 ? backend.matvec(w, x, y) : backend.matmul(w, x, y, n);
  const act = ACTIVATIONS[m.activation];
  const scaling = DK ** -0.5;
  const sin = new Float32Array(DK), cos = new Float32Array(DK), rot = new Float32Array(DK);

  // x·cos + rotate_every_two(x)·sin for one head's DK channels at x[o..].
  function thetaShift(x: Float32Array, o: number) {
    for (let j = 0; j < DK; j += 2) {
      rot[j] = -x[o + j + 1];
      rot[j + 1] = x[o + j];
    }
    for (let j = 0; j < DK; j++) x[o + j] = x[o + j] * cos[j] + rot[j] * sin[j];
  }

  function retention(i: number, layer: RetNetLayer, st: RetNetState, n: number, pos0: number) {
    for (let t = 0; t < n; t++) rmsNorm(buf.x, t * d, buf.h, t * d, layer.retentionNorm, m.eps);
    mm(layer.q, buf.h, buf.q, n);
    mm(layer.k, buf.h, buf.k, n);
    mm(layer.v, buf.h, buf.v, n);
    mm(layer.g, buf.h, buf.g, n);
    const { q, k, v, g, o } = buf;
    for (let t = 0; t < n; t++) {
      const pos = pos0 + t;
      for (let j = 0; j < DK; j++) {
        const phase = Math.fround(weights.angle[j] * pos); // f32, as the reference multiplies
        sin[j] = Math.sin(phase);
        cos[j] = Math.cos(phase);
      }
      for (let hd = 0; hd < H; hd++) {
        const qo = t * d + hd * DK;
        for (let j = 0; j < DK; j++) k[qo + j] *= scaling;
        thetaShift(q, qo);
        thetaShift(k, qo);
        // s' = γ·s + 1; the old kv is rescaled by γ·√s/√s', the new k ⊗ v by 1/√s'.
        const si = i * H + hd, gamma = weights.decay[hd];
        const prev = st.scale[si], next = prev * gamma + 1;
        buf.keep[t * H + hd] = (Math.sqrt(prev) * gamma) / Math.sqrt(next);
        buf.add[t * H + hd] = 1 / Math.sqrt(next);
        st.scale[si] = next;
      }
    }
    const stride = H * DV * DK;
    buf.kv.set(st.kv.subarray(i * stride, (i + 1) * stride));
    backend.retention(buf.kv, { q, k, v, keep: buf.keep, add: buf.add, o }, {
      tokens: n,
      heads: H,
      keyDim: DK,
      valueDim: DV,
    });
    st.kv.set(buf.kv, i * stride);
    for (let t = 0; t < n; t++) {
      for (let hd = 0; hd < H; hd++) {
        // Per-head RMS norm (no affine), then the SiLU gate.
        const vo = t * dv + hd * DV;
        let ss = 0;
        for (let a = 0; a < DV; a++) ss += o[vo + a] * o[vo + a];
        const inv = 1 / Math.sqrt(ss / DV + m.eps);
        for (let a = 0; a < DV; a++) o[vo + a] = o[vo + a] * inv * (g[vo + a] * sigmoid(g[vo + a]));
      }
    }
    mm(layer.out, o, buf.out, n);
    for (let idx = 0; idx < n * d; idx++) buf.x[idx] += buf.out[idx];
  }

  function ffn(layer: RetNetLayer, n: number) {
    for (let t = 0; t < n; t++) rmsNorm(buf.x, t * d, buf.h, t * d, layer.ffnNorm, m.eps);
    mm(layer.fc1, buf.h, buf.a, n);
    mm(layer.gate, buf.h, buf.b, n);
    for (let idx = 0; idx < n * F; idx++) buf.a[idx] = act(buf.a[idx]) * buf.b[idx];
    mm(layer.fc2, buf.a, buf.out, n);
    for (let idx = 0; idx < n * d; idx++) buf.x[idx] += buf.out[idx];
  }

  function runChunk(tokens: ArrayLike<number>, st: RetNetState) {
    const n = tokens.length;
    embedTokens(weights.emb, tokens, buf.x);
    for (let t = 0; t < n; t++) {
      const row = buf.x.subarray(t * d, (t + 1) * d);
      if (m.embedScale !== 1) { for (let c = 0; c < d; c++) row[c] *= m.embedScale; }
      if (weights.embNorm) rmsNorm(row, 0, row, 0, weights.embNorm, m.eps);
    }
    const pos0 = st.pos[0];
    weights.layers.forEach((layer, i) => {
      retention(i, layer, st, n, pos0);
      ffn(layer, n);
    });
    st.pos[0] = pos0 + n;
    rmsNorm(buf.x, (n - 1) * d, buf.last, 0, weights.finalNorm, m.eps);
  }

  return {
    info,
    backend,
    newState: () => new RetNetState(m),
    forward(tokens: ArrayLike<number>, state: RecurrentState): Float32Array {
      const st = state instanceof RetNetState ? state : new RetNetState(m, state.data);
      forEachChunk(tokens, T, (part) => runChunk(part, st));
      backend.matvec(weights.head, buf.last, buf.logits);
      return buf.logits.slice();
    },
  };
}
