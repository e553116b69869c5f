import { GraphWriter } from "../shared/graph_writer.ts";
import type { FamilyModel, GraphBuilder } from "../shared/runner.ts";
import { MambaState, mambaStateParts, mambaStateSize } from "./state.ts";
import type { MambaWeights } from "./weights.ts";

/**
 * A Mamba (selective SSM) model computing what HF's MambaForCausalLM slow path computes:
 * RMSNorm → in_proj → causal depthwise conv (window of conv_kernel) → SiLU → x_proj →
 * dt (softplus) → selective scan → skip D, gate SiLU(z) → out_proj, residual in f32.
 */
export function mambaModel(weights: MambaWeights): FamilyModel {
  const m = weights.dims;
  return {
    info: {
      family: "mamba",
      vocabSize: m.vocab,
      weightDType: weights.dtype,
      stateParts: mambaStateParts(m),
      stateSize: mambaStateSize(m),
      dims: {
        n_layer: m.nLayer,
        hidden_size: m.d,
        intermediate_size: m.inner,
        state_size: m.n,
        conv_kernel: m.k,
        vocab_size: m.vocab,
      },
    },
    graph: mambaGraph(weights),
    newState: () => new MambaState(m),
  };
}

/** One Mamba step as an op list. */
export function mambaGraph(weights: MambaWeights): GraphBuilder {
  const m = weights.dims;
  const { d, inner: I, n: N, k: K, rank: R, nLayer: L } = m;
  return (ctx) => {
    const b = ctx.buffer;
    const buf = {
      x: b(d),
      h: b(d),
      xz: b(2 * I),
      xc: b(I),
      sp: b(R + 2 * N),
      dtIn: b(R),
      dt: b(I),
      y: b(I),
      b: b(N),
      c: b(N),
      z: b(I),
      out: b(d),
      last: b(d),
    };
    const c = ctx.constant;
    const layers = weights.layers.map((layer, i) => ({
      layer,
      conv: ctx.state(i * I * K, I * K),
      ssm: ctx.state(L * I * K + i * I * N, I * N),
    }));

    return (n, mRows) => {
      const g = new GraphWriter(ctx, n);
      g.embed(weights.emb, buf.x);
      for (const { layer, conv, ssm } of layers) {
        g.rmsNorm(buf.x, buf.h, layer.norm, m.eps);
        g.matmul(layer.inProj, buf.h, buf.xz);
        if (layer.inBias) g.binary("add", buf.xz, c(layer.inBias));
        g.push({
          op: "causalConv",
          src: buf.xz,
          offset: 0,
          channels: I,
          k: K,
          weight: c(layer.convW),
          bias: layer.convB && c(layer.convB),
          state: conv,
          rows: ctx.rows,
          out: buf.xc,
          n,
        });
        g.matmul(layer.xProj, buf.xc, buf.sp);
        g.slice(buf.sp, 0, buf.dtIn);
        g.matmul(layer.dtProj, buf.dtIn, buf.dt);
        g.unary("softplus", buf.dt, buf.dt, { bias: layer.dtBias });
        g.slice(buf.sp, R, buf.b);
        g.slice(buf.sp, R + N, buf.c);
        g.slice(buf.xz, I, buf.z);
        g.push({
          op: "selectiveScan",
          x: buf.xc,
          dt: buf.dt,
          a: c(layer.negA),
          b: buf.b,
          c: buf.c,
          d: c(layer.dSkip),
          z: buf.z,
          y: buf.y,
          stateSize: N,
          state: ssm,
          rows: ctx.rows,
          n,
        });
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
