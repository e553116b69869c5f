import type { Matrix, Tensor, UnaryFn } from "../../kernels/mod.ts";
import { GraphWriter } from "../shared/graph_writer.ts";
import type { FamilyModel, GraphBuilder } from "../shared/runner.ts";
import { Rwkv7State, rwkv7StateParts, rwkv7StateSize } from "./state.ts";
import type { Rwkv7Weights } from "./weights.ts";

/** An RWKV-7 model over weights already placed in a backend. */
export function rwkv7Model(weights: Rwkv7Weights): FamilyModel {
  const d = weights.dims;
  return {
    info: {
      family: "rwkv7",
      vocabSize: d.vocab,
      weightDType: weights.dtype,
      stateParts: rwkv7StateParts(d),
      stateSize: rwkv7StateSize(d),
      dims: {
        n_layer: d.nLayer,
        n_embd: d.nEmbd,
        n_head: d.nHead,
        head_size: d.headSize,
        vocab_size: d.vocab,
      },
    },
    graph: rwkv7Graph(weights),
    newState: () => new Rwkv7State(d),
  };
}

/** A lora's name, its down and up matrices, input, output and activation between the two. */
type Lora = [name: string, down: Matrix, up: Matrix, x: Tensor, y: Tensor, act?: UnaryFn];

/**
 * One RWKV-7 step as an op list: embedding + ln0, then per block the time mix (token shift,
 * r/k/v projections, the w/a/g/v loras, the WKV state update, group norm, bonus and gate,
 * output) and the channel mix (token shift, relu² MLP), each added to the residual stream.
 */
export function rwkv7Graph(weights: Rwkv7Weights): GraphBuilder {
  const d = weights.dims;
  const C = d.nEmbd, H = d.nHead, N = d.headSize;
  const stateX = d.nLayer * C, stateWkv = H * N * N;
  return (ctx) => {
    const b = (cols = C) => ctx.buffer(cols);
    const buf = {
      x: b(),
      xx: b(),
      xr: b(),
      xw: b(),
      xk: b(),
      xv: b(),
      xa: b(),
      xg: b(),
      r: b(),
      w: b(),
      k: b(),
      v: b(),
      a: b(),
      g: b(),
      bb: b(),
      kk: b(),
      y: b(),
      vFirst: b(),
      out: b(),
      hidden: b(d.ffn),
      last: b(),
    };
    // One low-rank buffer per lora (w, a, g, v), so that no lora's down half writes what another's
    // up half reads.
    const low: Record<string, Tensor> = {};
    const lowOf = (name: string, rows: number) => low[name] ??= b(rows);
    const c = ctx.constant;
    const layers = weights.layers.map((layer, i) => ({
      layer,
      attX: ctx.state(i * C, C),
      wkv: ctx.state(stateX + i * stateWkv, stateWkv),
      ffnX: ctx.state(stateX + d.nLayer * stateWkv + i * C, C),
    }));

    return (n, m) => {
      const g = new GraphWriter(ctx, n);
      // y = up · act(down · x) for each lora; act undefined means identity. The down halves come
      // first, after the r/k/v projections, then the up halves: each run of matmuls reads nothing
      // the others in it write, so a threaded backend runs it as one job (kernels/wasm/call_groups.ts).
      const loras = (list: Lora[]) => {
        for (const [name, down, , x] of list) g.matmul(down, x, lowOf(name, down.rows));
        for (const [name, , , , , act] of list) if (act) g.unary(act, low[name]);
        for (const [name, , up, , y] of list) g.matmul(up, low[name], y);
      };
      g.embed(weights.emb, buf.x);
      g.layerNorm(buf.x, buf.x, weights.ln0);
      for (const { layer, attX, wkv, ffnX } of layers) {
        const att = layer.att;
        g.layerNorm(buf.x, buf.xx, layer.ln1);
        g.push({
          op: "tokenShift",
          form: "lerp",
          x: buf.xx,
          state: attX,
          rows: ctx.rows,
          mixes: [
            { coef: c(att.xR), out: buf.xr },
            { coef: c(att.xW), out: buf.xw },
            { coef: c(att.xK), out: buf.xk },
            { coef: c(att.xV), out: buf.xv },
            { coef: c(att.xA), out: buf.xa },
            { coef: c(att.xG), out: buf.xg },
          ],
          n,
        });
        g.matmul(att.receptance, buf.xr, buf.r);
        g.matmul(att.key, buf.xk, buf.k);
        g.matmul(att.value, buf.xv, buf.v);
        loras([
          ["w", att.w1, att.w2, buf.xw, buf.w, "tanh"],
          ["a", att.a1, att.a2, buf.xa, buf.a],
          ["g", att.g1, att.g2, buf.xg, buf.g, "sigmoid"],
          ...(att.v ? [["v", att.v.v1, att.v.v2, buf.xv, buf.out] satisfies Lora] : []),
        ]);
        g.push({
          op: "rwkv7Mix",
          w: buf.w,
          a: buf.a,
          k: buf.k,
          kk: buf.kk,
          b: buf.bb,
          w0: c(att.w0),
          a0: c(att.a0),
          kK: c(att.kK),
          kA: c(att.kA),
          heads: H,
          n,
        });
        if (att.v === undefined) g.slice(buf.v, 0, buf.vFirst);
        else g.push({ op: "rwkv7Value", v: buf.v, vFirst: buf.vFirst, mix: buf.out, v0: c(att.v.v0), n });
        g.push({
          op: "wkv7",
          r: buf.r,
          w: buf.w,
          k: buf.k,
          v: buf.v,
          a: buf.kk,
          b: buf.bb,
          y: buf.y,
          heads: H,
          headSize: N,
          state: wkv,
          rows: ctx.rows,
          n,
        });
        g.norm(buf.y, buf.y, att.lnX, { rms: false, groups: H });
        g.push({
          op: "rwkv7Bonus",
          y: buf.y,
          r: buf.r,
          k: buf.k,
          v: buf.v,
          g: buf.g,
          rK: c(att.rK),
          heads: H,
          n,
        });
        g.matmul(att.output, buf.y, buf.out);
        g.residual(buf.x, buf.out);

        g.layerNorm(buf.x, buf.xx, layer.ln2);
        g.push({
          op: "tokenShift",
          form: "lerp",
          x: buf.xx,
          state: ffnX,
          rows: ctx.rows,
          mixes: [{ coef: c(layer.ffn.xK), out: buf.xk }],
          n,
        });
        g.matmul(layer.ffn.key, buf.xk, buf.hidden);
        g.unary("relu2", buf.hidden);
        g.matmul(layer.ffn.value, buf.hidden, buf.out);
        g.residual(buf.x, buf.out);
      }
      g.head(buf.x, buf.last, m, (last, rows) => g.layerNorm(last, last, weights.lnOut, rows), weights.head);
      return g.ops;
    };
  };
}
