import { GraphWriter } from "../shared/graph_writer.ts";
import type { FamilyModel, GraphBuilder } from "../shared/runner.ts";
import { Rwkv4State, rwkv4StateParts, rwkv4StateSize } from "./state.ts";
import type { Rwkv4Weights } from "./weights.ts";

/**
 * An RWKV-4 model computing what HF's RwkvForCausalLM computes at inference, including its
 * rescaling (the output and channel-mix value projections of block i scaled by
 * 2^-(i div rescale_every), the residual stream halved after every rescale_every blocks;
 * scaling by powers of two is exact).
 */
export function rwkv4Model(weights: Rwkv4Weights): FamilyModel {
  const d = weights.dims;
  return {
    info: {
      family: "rwkv4",
      vocabSize: d.vocab,
      weightDType: weights.dtype,
      stateParts: rwkv4StateParts(d),
      stateSize: rwkv4StateSize(d),
      dims: {
        n_layer: d.nLayer,
        n_embd: d.nEmbd,
        attention_hidden_size: d.att,
        intermediate_size: d.ffn,
        vocab_size: d.vocab,
      },
    },
    graph: rwkv4Graph(weights),
    newState: () => new Rwkv4State(d),
  };
}

/** One RWKV-4 step: pre-LN, then per block the time mix (token shift, WKV) and the channel mix. */
export function rwkv4Graph(weights: Rwkv4Weights): GraphBuilder {
  const d = weights.dims;
  const { nEmbd: C, att: A, ffn: F, nLayer: L } = d;
  return (ctx) => {
    const b = ctx.buffer;
    const buf = {
      x: b(C),
      h: b(C),
      mk: b(C),
      mv: b(C),
      mr: b(C),
      k: b(A),
      v: b(A),
      r: b(A),
      wkv: b(A),
      hidden: b(F),
      rc: b(C),
      out: b(C),
      last: b(C),
    };
    const c = ctx.constant;
    const layers = weights.layers.map((layer, i) => ({
      layer,
      scale: d.rescaleEvery > 0 ? 2 ** -Math.floor(i / d.rescaleEvery) : 1,
      halve: d.rescaleEvery > 0 && (i + 1) % d.rescaleEvery === 0,
      ffnX: ctx.state(i * C, C),
      attX: ctx.state(L * C + i * C, C),
      num: ctx.state(2 * L * C + i * A, A),
      den: ctx.state(2 * L * C + L * A + i * A, A),
      max: ctx.state(2 * L * C + 2 * L * A + i * A, A),
    }));

    return (n, m) => {
      const g = new GraphWriter(ctx, n);
      const shift = (state: typeof layers[0]["ffnX"], mixes: [Float32Array, typeof buf.x][]) =>
        g.push({
          op: "tokenShift",
          form: "mix",
          x: buf.h,
          state,
          rows: ctx.rows,
          mixes: mixes.map(([coef, out]) => ({ coef: c(coef), out })),
          n,
        });
      g.embed(weights.emb, buf.x);
      g.layerNorm(buf.x, buf.x, weights.preLn);
      for (const { layer, scale, halve, ffnX, attX, num, den, max } of layers) {
        const att = layer.att;
        g.layerNorm(buf.x, buf.h, layer.ln1);
        shift(attX, [[att.mixK, buf.mk], [att.mixV, buf.mv], [att.mixR, buf.mr]]);
        g.matmul(att.key, buf.mk, buf.k);
        g.matmul(att.value, buf.mv, buf.v);
        g.matmul(att.receptance, buf.mr, buf.r);
        g.push({
          op: "wkv4",
          w: c(att.decay),
          u: c(att.first),
          k: buf.k,
          v: buf.v,
          out: buf.wkv,
          num,
          den,
          max,
          rows: ctx.rows,
          n,
        });
        g.unary("sigmoid", buf.r);
        g.binary("mul", buf.r, buf.wkv);
        g.matmul(att.output, buf.r, buf.out);
        g.residual(buf.x, buf.out, { scale });

        const ffn = layer.ffn;
        g.layerNorm(buf.x, buf.h, layer.ln2);
        shift(ffnX, [[ffn.mixK, buf.mk], [ffn.mixR, buf.mr]]);
        g.matmul(ffn.key, buf.mk, buf.hidden);
        g.unary("relu2", buf.hidden);
        g.matmul(ffn.value, buf.hidden, buf.out);
        g.matmul(ffn.receptance, buf.mr, buf.rc);
        g.residual(buf.x, buf.out, { scale, gate: buf.rc });
        if (halve) g.unary("scale", buf.x, buf.x, { k: 0.5 });
      }
      g.head(buf.x, buf.last, m, (last, rows) => g.layerNorm(last, last, weights.lnOut, rows), weights.head);
      return g.ops;
    };
  };
}
