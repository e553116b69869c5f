import type { Backend, Matrix } from "../../kernels/mod.ts";
import { rmsNorm, sigmoid } from "../shared/norms.ts";
import { addResidual, causalConvSilu, embedTokens, forEachChunk, toBackend } from "../shared/recurrent.ts";
import type { ModelInfo, RecurrentModel, RecurrentState } from "../types.ts";
import { Mamba2State, mamba2StateParts, mamba2StateSize } from "./state.ts";
import type { Mamba2Layer, Mamba2Weights } from "./weights.ts";

const silu = (x: number) => x * sigmoid(x);
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));

/**
 * A Mamba-2 (SSD) model computing what HF's Mamba2ForCausalLM torch path computes: RMSNorm →
 * in_proj (z, xBC, dt) → causal depthwise conv + SiLU over xBC → per-head scalar-decay SSM with
 * B, C shared per group → D skip → RMSNorm(y · SiLU(z)) over all channels → out_proj.
 * Projections run as matvec or matmul; the scan is the recurrent form, token by token.
 */
export function createMamba2Model(
  weights: Mamba2Weights,
  backend: Backend,
  options: { chunk: number },
): RecurrentModel {
  const m = weights.dims;
  const { d, inner: I, heads: H, headDim: P, groups: G, n: N, k: K, convDim: CD } = m;
  const proj = I + CD + H;
  const T = options.chunk;
  const f = (size: number) => backend.f32(size);
  const buf = {
    x: f(T * d),
    h: f(T * d),
    zxbcdt: f(T * proj),
    xbc: f(T * CD),
    y: f(T * I),
    xs: f(T * I), // [T][I] the x channels of xBC, contiguous for the scan
    dt: f(T * H),
    dA: f(T * H),
    b: f(T * G * N),
    c: f(T * G * N),
    ssm: f(H * P * N), // one layer's SSM state while it is scanned
    out: f(T * d),
    last: f(d),
    logits: f(m.vocab),
  };
  const info: ModelInfo = {
    family: "mamba2",
    vocabSize: m.vocab,
    weightDType: weights.dtype,
    stateParts: mamba2StateParts(m),
    stateSize: mamba2StateSize(m),
    dims: {
      n_layer: m.nLayer,
      hidden_size: d,
      num_heads: H,
      head_dim: P,
      n_groups: G,
      state_size: N,
      vocab_size: m.vocab,
    },
  };
  const dSkip = weights.layers.map((l) => toBackend(backend, l.dSkip));
  const mm = (w: Matrix, x: Float32Array, y: Float32Array, n: number) =>
    n === 1 ? backend.matvec(w, x, y) : backend.matmul(w, x, y, n);

  function mixer(i: number, layer: Mamba2Layer, st: Mamba2State, n: number) {
    for (let t = 0; t < n; t++) rmsNorm(buf.x, t * d, buf.h, t * d, layer.norm, m.eps);
    const { zxbcdt, xbc, y } = buf;
    mm(layer.inProj, buf.h, zxbcdt, n);
    if (layer.inBias) {
      for (let t = 0; t < n; t++) for (let c = 0; c < proj; c++) zxbcdt[t * proj + c] += layer.inBias[c];
    }
    causalConvSilu(
      st.conv,
      i * CD * K,
      { w: layer.convW, b: layer.convB },
      {
        src: zxbcdt,
        stride: proj,
        offset: I,
      },
      xbc,
      { channels: CD, k: K, tokens: n },
    );
    for (let t = 0; t < n; t++) {
      const xo = t * CD;
      buf.xs.set(xbc.subarray(xo, xo + I), t * I);
      buf.b.set(xbc.subarray(xo + I, xo + I + G * N), t * G * N);
      buf.c.set(xbc.subarray(xo + I + G * N, xo + CD), t * G * N);
      for (let hd = 0; hd < H; hd++) {
        let dt = softplus(zxbcdt[t * proj + I + CD + hd] + layer.dtBias[hd]);
        dt = Math.min(Math.max(dt, m.dtMin), m.dtMax);
        buf.dt[t * H + hd] = dt;
        buf.dA[t * H + hd] = Math.exp(dt * layer.negA[hd]);
      }
    }
    // The SSD recurrence (a backend kernel): s = dA·s + dt·x·B, y = C·s + D·x.
    const stride = H * P * N;
    buf.ssm.set(st.ssm.subarray(i * stride, (i + 1) * stride));
    backend.ssdScan(buf.ssm, { x: buf.xs, dt: buf.dt, dA: buf.dA, b: buf.b, c: buf.c, d: dSkip[i], y }, {
      tokens: n,
      heads: H,
      headDim: P,
      stateSize: N,
      groups: G,
    });
    st.ssm.set(buf.ssm, i * stride);
    for (let t = 0; t < n; t++) {
      // Gated RMSNorm over all inner channels: norm(y · SiLU(z)).
      for (let c = 0; c < I; c++) y[t * I + c] *= silu(zxbcdt[t * proj + c]);
      rmsNorm(y, t * I, y, t * I, layer.gatedNorm, m.eps);
    }
    mm(layer.outProj, y, buf.out, n);
    addResidual(buf.x, buf.out, layer.outBias, n, d);
  }

  function runChunk(tokens: ArrayLike<number>, st: Mamba2State) {
    const n = tokens.length;
    embedTokens(weights.emb, tokens, buf.x);
    weights.layers.forEach((layer, i) => mixer(i, layer, st, n));
    rmsNorm(buf.x, (n - 1) * d, buf.last, 0, weights.normF, m.eps);
  }

  return {
    info,
    backend,
    newState: () => new Mamba2State(m),
    forward(tokens: ArrayLike<number>, state: RecurrentState): Float32Array {
      const st = state instanceof Mamba2State ? state : new Mamba2State(m, state.data);
      forEachChunk(tokens, T, (part) => runChunk(part, st));
      backend.matvec(weights.head, buf.last, buf.logits);
      return buf.logits.slice();
    },
  };
}
