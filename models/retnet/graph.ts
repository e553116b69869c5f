import type { UnaryFn } from "../../kernels/mod.ts";
import { GraphWriter } from "../shared/graph_writer.ts";
import type { FamilyModel, GraphBuilder } from "../shared/runner.ts";
import { RetNetState, retnetStateParts, retnetStateSize } from "./state.ts";
import type { RetNetWeights } from "./weights.ts";

const ACTIVATIONS: Record<RetNetWeights["dims"]["activation"], UnaryFn> = {
  gelu: "gelu",
  swish: "silu",
  relu: "relu",
};

/**
 * A RetNet decoder computing torchscale's recurrent form: per head, q and k rotated by their
 * position (xPos-free θ shift), kv ← γ·kv·√s/√s' + k⊗v/√s' with s' = γ·s + 1, o = q·kv, then a
 * per-head RMS norm, the SiLU(g) gate, out_proj; a GLU feed-forward; pre-RMSNorm everywhere.
 * The retention recurrence is token by token (equal, after the per-head norm, to the parallel
 * and chunkwise forms).
 */
export function retnetModel(weights: RetNetWeights): FamilyModel {
  const m = weights.dims;
  return {
    info: {
      family: "retnet",
      vocabSize: m.vocab,
      weightDType: weights.dtype,
      stateParts: retnetStateParts(m),
      stateSize: retnetStateSize(m),
      dims: {
        decoder_layers: m.nLayer,
        decoder_embed_dim: m.d,
        decoder_value_embed_dim: m.dv,
        decoder_retention_heads: m.heads,
        vocab_size: m.vocab,
      },
    },
    graph: retnetGraph(weights),
    newState: () => new RetNetState(m),
  };
}

/** One RetNet step as an op list. */
export function retnetGraph(weights: RetNetWeights): GraphBuilder {
  const m = weights.dims;
  const { d, dv, heads: H, keyDim: DK, headDim: DV, ffn: F, nLayer: L } = m;
  const kvSize = H * DV * DK;
  return (ctx) => {
    const b = ctx.buffer;
    const buf = {
      x: b(d),
      h: b(d),
      q: b(d),
      k: b(d),
      v: b(dv),
      g: b(dv),
      o: b(dv),
      keep: b(H),
      add: b(H),
      a: b(F),
      b: b(F),
      out: b(d),
      last: b(d),
    };
    const c = ctx.constant;
    const position = ctx.state(L * kvSize + L * H, 1);
    const layers = weights.layers.map((layer, i) => ({
      layer,
      kv: ctx.state(i * kvSize, kvSize),
      scale: ctx.state(L * kvSize + i * H, H),
    }));

    return (n, mRows) => {
      const g = new GraphWriter(ctx, n);
      g.embed(weights.emb, buf.x);
      if (m.embedScale !== 1) g.unary("scale", buf.x, buf.x, { k: m.embedScale });
      if (weights.embNorm) g.rmsNorm(buf.x, buf.x, weights.embNorm, m.eps);
      for (const { layer, kv, scale } of layers) {
        g.rmsNorm(buf.x, buf.h, layer.retentionNorm, m.eps);
        g.matmul(layer.q, buf.h, buf.q);
        g.matmul(layer.k, buf.h, buf.k);
        g.matmul(layer.v, buf.h, buf.v);
        g.matmul(layer.g, buf.h, buf.g);
        g.push({
          op: "retnetRotate",
          q: buf.q,
          k: buf.k,
          keep: buf.keep,
          add: buf.add,
          angle: c(weights.angle),
          decay: c(weights.decay),
          scaling: DK ** -0.5,
          heads: H,
          position,
          scale,
          rows: ctx.rows,
          n,
        });
        g.push({
          op: "retention",
          q: buf.q,
          k: buf.k,
          v: buf.v,
          keep: buf.keep,
          add: buf.add,
          o: buf.o,
          heads: H,
          keyDim: DK,
          valueDim: DV,
          state: kv,
          rows: ctx.rows,
          n,
        });
        // Per-head RMS norm (no affine), then the SiLU gate.
        g.norm(buf.o, buf.o, { eps: m.eps }, { rms: true, groups: H });
        g.binary("mulSilu", buf.o, buf.g);
        g.matmul(layer.out, buf.o, buf.out);
        g.residual(buf.x, buf.out);

        g.rmsNorm(buf.x, buf.h, layer.ffnNorm, m.eps);
        g.matmul(layer.fc1, buf.h, buf.a);
        g.matmul(layer.gate, buf.h, buf.b);
        g.unary(ACTIVATIONS[m.activation], buf.a);
        g.binary("mul", buf.a, buf.b);
        g.matmul(layer.fc2, buf.a, buf.out);
        g.residual(buf.x, buf.out);
      }
      g.push({ op: "advance", position, rows: ctx.rows, n });
      g.head(
        buf.x,
        buf.last,
        mRows,
        (last, rows) => g.rmsNorm(last, last, weights.finalNorm, m.eps, rows),
        weights.head,
      );
      return g.ops;
    };
  };
}
