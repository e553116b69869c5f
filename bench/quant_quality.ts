/**
 * What quantized weights cost in quality: for the embedded default model (on held-out KJV text,
 * Revelation 12–22, which its training left out) and each family's committed fixture (random
 * weights; on the same text), the perplexity of the checkpoint's precision, int8 and q4, and how
 * many of 40 greedy tokens each quantized run shares with the checkpoint's before they differ.
 * Then what the bf16 state mode (`STATE_DTYPE=bf16`) costs: the perplexity when the state is rounded
 * to bf16 at every checkpoint (every 16 tokens, the default, and at every token, the worst case),
 * and the blob's bytes. Prints markdown tables (the README's).
 *
 *   deno task bench:quant [--tokens N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { QuantFormat } from "../kernels/mod.ts";
import { type LoadedModel, loadModel } from "../models/mod.ts";
import { argmax, logSoftmax } from "../engine/sampler.ts";
import { encodeStateBlob, newSession, roundToBf16 } from "../engine/mod.ts";

const { values } = parseArgs({ options: { tokens: { type: "string" } } });
const limit = Number(values.tokens ?? 4000);
const root = new URL("../", import.meta.url).pathname;
const text = await Deno.readTextFile(`${root}bench/data/kjv_heldout.txt`);
const MODELS = [
  "assets/rwkv7-kjv-4m",
  "tests/fixtures/rwkv7/tiny3",
  "tests/fixtures/rwkv4/tiny",
  "tests/fixtures/mamba/tiny",
  "tests/fixtures/mamba2/tiny",
  "tests/fixtures/retnet/tiny",
];
const FORMATS: (QuantFormat | undefined)[] = [undefined, "q8", "q4"];

/**
 * Perplexity of the model on the first `limit` tokens of the text, teacher forced; with `roundEvery`,
 * the state is rounded to bf16 after every that many tokens (as bf16 checkpoints do).
 */
function perplexity(loaded: LoadedModel, tokens: number[], roundEvery?: number): number {
  const state = loaded.model.newState();
  let logits = loaded.model.forward([tokens[0]], state);
  let nll = 0;
  for (let i = 1; i < tokens.length; i++) {
    if (roundEvery && i % roundEvery === 0) roundToBf16(state.data);
    nll -= logSoftmax(logits)[tokens[i]];
    logits = loaded.model.forward([tokens[i]], state);
  }
  return Math.exp(nll / (tokens.length - 1));
}

/** 40 greedy tokens after the text's first line. */
function greedy(loaded: LoadedModel, prompt: number[]): number[] {
  const state = loaded.model.newState();
  let logits = loaded.model.forward(prompt, state);
  const out: number[] = [];
  for (let i = 0; i < 40; i++) {
    const id = argmax(logits);
    out.push(id);
    logits = loaded.model.forward([id], state);
  }
  return out;
}

console.log(
  `| model | quantized matrices | perplexity: checkpoint · int8 · q4 | int8 · q4 vs checkpoint | greedy tokens shared (of 40): int8 · q4 |`,
);
console.log(`| --- | --- | --- | --- | --- |`);
for (const dir of MODELS) {
  const rows: { ppl: number; greedy: number[]; share: string }[] = [];
  let name = dir;
  for (const weights of FORMATS) {
    const loaded = await loadModel(`${root}${dir}`, { weights });
    name = `${loaded.id} (${loaded.family})`;
    const tokens = loaded.tokenizer.encode(text).slice(0, limit);
    const prompt = loaded.tokenizer.encode(text.slice(0, text.indexOf("\n")));
    rows.push({
      ppl: perplexity(loaded, tokens),
      greedy: greedy(loaded, prompt),
      share: quantizedShare(loaded),
    });
    loaded.model.backend.close();
  }
  const shared = (g: number[]) => {
    const first = g.findIndex((id, i) => id !== rows[0].greedy[i]);
    return first < 0 ? 40 : first;
  };
  const pct = (p: number) => `${p >= rows[0].ppl ? "+" : ""}${(100 * (p / rows[0].ppl - 1)).toFixed(2)} %`;
  console.log(
    `| ${name} | ${rows[1].share} | ${rows.map((r) => r.ppl.toFixed(3)).join(" · ")} | ${
      pct(rows[1].ppl)
    } · ${pct(rows[2].ppl)} | ${shared(rows[1].greedy)} · ${shared(rows[2].greedy)} |`,
  );
}

console.log(
  `\n| model | perplexity: f32 state · bf16 every 16 tokens · every token | vs f32 | blob bytes: f32 · bf16 |`,
);
console.log(`| --- | --- | --- | --- |`);
for (const dir of MODELS) {
  const loaded = await loadModel(`${root}${dir}`);
  const tokens = loaded.tokenizer.encode(text).slice(0, limit);
  const ppl = [undefined, 16, 1].map((every) => perplexity(loaded, tokens, every));
  const pct = (p: number) => `${p >= ppl[0] ? "+" : ""}${(100 * (p / ppl[0] - 1)).toFixed(3)} %`;
  const session = newSession(loaded, 1);
  session.logits = new Float32Array(loaded.model.info.vocabSize);
  const bytes = (["f32", "bf16"] as const).map((d) => encodeStateBlob(loaded, session, d).length);
  console.log(
    `| ${loaded.id} (${loaded.family}) | ${ppl.map((p) => p.toFixed(3)).join(" · ")} | ${pct(ppl[1])} · ${
      pct(ppl[2])
    } | ${bytes.join(" · ")} |`,
  );
  loaded.model.backend.close();
}

/** Which share of the model's multiplied weights its quantized matrices hold. */
function quantizedShare(loaded: LoadedModel): string {
  const q = loaded.quantized;
  return q ? `${(100 * q.quantized / q.weights).toFixed(0)} % of ${(q.weights / 1e6).toFixed(2)} M` : "";
}
