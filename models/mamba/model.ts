import type { Backend, Matrix } from "../../kernels/mod.ts";
import { rmsNorm } from "../shared/norms.ts";
import { addResidual, causalConvSilu, embedTokens, forEachChunk, toBackend } from "../shared/recurrent.ts";
import type { ModelInfo, RecurrentModel, RecurrentState } from "../types.ts";
import { MambaState, mambaStateParts, mambaStateSize } from "./state.ts";
import type { MambaLayer, MambaWeights } from "./weights.ts";

// torch.nn.functional.softplus (beta 1, threshold 20).
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));

/**
 * A Mamba (selective SSM) model computing what HF's MambaForCausalLM slow path computes:
 * RMSNorm → in_proj → causal depthwise conv (window of conv_kernel) → SiLU → x_proj →
 * dt (softplus) → selective scan → skip D, gate SiLU(z) → out_proj, residual in f32.
 * Projections run as matvec (one token) or matmul (a chunk); the conv and scan are sequential.
 */
export function createMambaModel(
  weights: MambaWeights,
  backend: Backend,
  options: { chunk: number },
): RecurrentModel {
  const m = weights.dims;
  const { d, inner: I, n: N, k: K, rank: R } = m;
  const T = options.chunk;
  const f = (size: number) => backend.f32(size);
  const buf = {
    x: f(T * d),
    h: f(T * d),
    xz: f(T * 2 * I),
    xc: f(T * I),
    sp: f(T * (R + 2 * N)),
    dtIn: f(T * R),
    dt: f(T * I),
    y: f(T * I),
    b: f(T * N), // [T][N] B, contiguous for the scan
    c: f(T * N),
    z: f(T * I), // [T][I] the gate
    ssm: f(I * N), // one layer's SSM state while it is scanned
    out: f(T * d),
    last: f(d),
    logits: f(m.vocab),
  };
  const info: ModelInfo = {
    family: "mamba",
    vocabSize: m.vocab,
    weightDType: weights.dtype,
    stateParts: mambaStateParts(m),
    stateSize: mambaStateSize(m),
    dims: {
      n_layer: m.nLayer,
      hidden_size: d,
      intermediate_size: I,
      state_size: N,
      conv_kernel: K,
      vocab_size: m.vocab,
    },
  };
  // Per-layer constants the scan reads, in backend memory.
  const dev = (a: Float32Array) => toBackend(backend, a);
  const scanConsts = weights.layers.map((l) => ({ a: dev(l.negA), d: dev(l.dSkip) }));
  const mm = (w: Matrix, x: Float32Array, y: Float32Array, n: number) =>
    n === 1 ? backend.matvec(w, x, y) : backend.matmul(w, x, y, n);

  function mixer(i: number, layer: MambaLayer, st: MambaState, n: number) {
    for (let t = 0; t < n; t++) rmsNorm(buf.x, t * d, buf.h, t * d, layer.norm, m.eps);
    mm(layer.inProj, buf.h, buf.xz, n);
    const { xz, xc, sp, dtIn, dt, y } = buf;
    if (layer.inBias) {
      for (let t = 0; t < n; t++) for (let c = 0; c < 2 * I; c++) xz[t * 2 * I + c] += layer.inBias[c];
    }
    // Causal depthwise conv over the x half of xz (window of the last K inputs in the state).
    causalConvSilu(
      st.conv,
      i * I * K,
      { w: layer.convW, b: layer.convB },
      { src: xz, stride: 2 * I, offset: 0 },
      xc,
      {
        channels: I,
        k: K,
        tokens: n,
      },
    );
    mm(layer.xProj, xc, sp, n);
    const P = R + 2 * N;
    for (let t = 0; t < n; t++) dtIn.set(sp.subarray(t * P, t * P + R), t * R);
    mm(layer.dtProj, dtIn, dt, n);
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < I; c++) dt[t * I + c] = softplus(dt[t * I + c] + layer.dtBias[c]);
    }
    // Selective scan (a backend kernel): h = exp(A·dt) h + dt·B·x;  y = (C·h + D·x)·SiLU(z).
    for (let t = 0; t < n; t++) {
      buf.b.set(sp.subarray(t * P + R, t * P + R + N), t * N);
      buf.c.set(sp.subarray(t * P + R + N, t * P + R + 2 * N), t * N);
      buf.z.set(xz.subarray(t * 2 * I + I, (t + 1) * 2 * I), t * I);
    }
    const stride = I * N;
    buf.ssm.set(st.ssm.subarray(i * stride, (i + 1) * stride));
    const k = scanConsts[i];
    backend.selectiveScan(buf.ssm, { x: xc, dt, a: k.a, b: buf.b, c: buf.c, d: k.d, z: buf.z, y }, {
      tokens: n,
      channels: I,
      stateSize: N,
    });
    st.ssm.set(buf.ssm, i * stride);
    mm(layer.outProj, y, buf.out, n);
    addResidual(buf.x, buf.out, layer.outBias, n, d);
  }

  function runChunk(tokens: ArrayLike<number>, st: MambaState) {
    const n = tokens.length;
    embedTokens(weights.emb, tokens, buf.x);
    weights.layers.forEach((layer, i) => mixer(i, layer, st, n));
    rmsNorm(buf.x, (n - 1) * d, buf.last, 0, weights.normF, m.eps);
  }

  return {
    info,
    backend,
    newState: () => new MambaState(m),
    forward(tokens: ArrayLike<number>, state: RecurrentState): Float32Array {
      const st = state instanceof MambaState ? state : new MambaState(m, state.data);
      forEachChunk(tokens, T, (part) => runChunk(part, st));
      backend.matvec(weights.head, buf.last, buf.logits);
      return buf.logits.slice();
    },
  };
}
