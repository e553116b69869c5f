import { GraphWriter } from "../shared/graph_writer.ts";
import type { FamilyModel, GraphBuilder } from "../shared/runner.ts";
import { Mamba2State, mamba2StateParts, mamba2StateSize } from "./state.ts";
import type { Mamba2Weights } from "./weights.ts";

/**
 * A Mamba-2 (SSD) model computing what HF's Mamba2ForCausalLM torch path computes: RMSNorm →
 * in_proj (z, xBC, dt) → causal depthwise conv + SiLU over xBC → per-head scalar-decay SSM with
 * B, C shared per group → D skip → RMSNorm(y · SiLU(z)) over all channels → out_proj.
 */
export function mamba2Model(weights: Mamba2Weights): FamilyModel {
  const m = weights.dims;
  return {
    info: {
      family: "mamba2",
      vocabSize: m.vocab,
      weightDType: weights.dtype,
      stateParts: mamba2StateParts(m),
      stateSize: mamba2StateSize(m),
      dims: {
        n_layer: m.nLayer,
        hidden_size: m.d,
        num_heads: m.heads,
        head_dim: m.headDim,
        n_groups: m.groups,
        state_size: m.n,
        vocab_size: m.vocab,
      },
    },
    graph: mamba2Graph(weights),
    newState: () => new Mamba2State(m),
  };
}

/** One Mamba-2 step as an op list. */
export function mamba2Graph(weights: Mamba2Weights): GraphBuilder {
  const m = weights.dims;
  const { d, inner: I, heads: H, headDim: P, groups: G, n: N, k: K, convDim: CD, nLayer: L } = m;
  const proj = I + CD + H;
  return (ctx) => {
    const b = ctx.buffer;
    const buf = {
      x: b(d),
      h: b(d),
      zxbcdt: b(proj),
      xbc: b(CD),
      xs: b(I),
      z: b(I),
      y: b(I),
      dt: b(H),
      dA: b(H),
      b: b(G * N),
      c: b(G * N),
      out: b(d),
      last: b(d),
    };
    const c = ctx.constant;
    const layers = weights.layers.map((layer, i) => ({
      layer,
      conv: ctx.state(i * CD * K, CD * K),
      ssm: ctx.state(L * CD * K + i * H * P * N, H * P * N),
    }));

    return (n, mRows) => {
      const g = new GraphWriter(ctx, n);
      g.embed(weights.emb, buf.x);
      for (const { layer, conv, ssm } of layers) {
        g.rmsNorm(buf.x, buf.h, layer.norm, m.eps);
        g.matmul(layer.inProj, buf.h, buf.zxbcdt);
        if (layer.inBias) g.binary("add", buf.zxbcdt, c(layer.inBias));
        g.push({
          op: "causalConv",
          src: buf.zxbcdt,
          offset: I,
          channels: CD,
          k: K,
          weight: c(layer.convW),
          bias: layer.convB && c(layer.convB),
          state: conv,
          rows: ctx.rows,
          out: buf.xbc,
          n,
        });
        g.slice(buf.xbc, 0, buf.xs);
        g.slice(buf.xbc, I, buf.b);
        g.slice(buf.xbc, I + G * N, buf.c);
        g.push({
          op: "ssdStep",
          src: buf.zxbcdt,
          offset: I + CD,
          bias: c(layer.dtBias),
          negA: c(layer.negA),
          min: m.dtMin,
          max: m.dtMax,
          dt: buf.dt,
          dA: buf.dA,
          n,
        });
        g.push({
          op: "ssdScan",
          x: buf.xs,
          dt: buf.dt,
          dA: buf.dA,
          b: buf.b,
          c: buf.c,
          d: c(layer.dSkip),
          y: buf.y,
          heads: H,
          headDim: P,
          stateSize: N,
          groups: G,
          state: ssm,
          rows: ctx.rows,
          n,
        });
        // Gated RMSNorm over all inner channels: norm(y · SiLU(z)).
        g.slice(buf.zxbcdt, 0, buf.z);
        g.binary("mulSilu", buf.y, buf.z);
        g.rmsNorm(buf.y, buf.y, layer.gatedNorm, m.eps);
        g.matmul(layer.outProj, buf.y, buf.out);
        g.residual(buf.x, buf.out, { bias: layer.outBias });
      }
      g.head(
        buf.x,
        buf.last,
        mRows,
        (last, rows) => g.rmsNorm(last, last, weights.normF, m.eps, rows),
        weights.head,
      );
      return g.ops;
    };
  };
}
