/**
 * LAMBADA perplexity and accuracy of a model, as the RWKV and Mamba papers
 * report them: each passage's last word is predicted from the rest, teacher
 * forced; accuracy counts passages whose every target token is the argmax.
 *
 *   deno task lambada --model DIR [--data lambada_test.jsonl] [--limit N]
 *
 * World-vocabulary models get token 0 (end-of-text) before each passage, as
 * BlinkDL's evaluation does. Prints progress every 100 passages.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { argmax, logSoftmax } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { WorldTokenizer } from "../tokenizers/mod.ts";
import { DEFAULT_MODEL_DIR, intFlag } from "./defaults.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { model: { type: "string" }, data: { type: "string" }, limit: { type: "string" } },
});
const data = values.data ?? new URL("../../shared/data/lambada_test.jsonl", import.meta.url).pathname;
const loaded = await loadModel(values.model ?? DEFAULT_MODEL_DIR);
const lines = (await Deno.readTextFile(data)).split("\n").filter((l) => l.trim());
const limit = intFlag("limit", values.limit, lines.length);
const prefix = loaded.tokenizer instanceof WorldTokenizer ? [0] : [];
let nll = 0, correct = 0, count = 0;
for (const line of lines.slice(0, limit)) {
  const text: string = JSON.parse(line).text;
  const cut = text.lastIndexOf(" ");
  const context = [...prefix, ...loaded.tokenizer.encode(text.slice(0, cut))];
  const target = loaded.tokenizer.encode(text.slice(cut));
  const state = loaded.model.newState();
  let logits = loaded.model.forward(context, state);
  let allBest = true;
  for (const id of target) {
    const lp = logSoftmax(logits);
    nll -= lp[id];
    if (argmax(lp) !== id) allBest = false;
    logits = loaded.model.forward([id], state);
  }
  count++;
  if (allBest) correct++;
  if (count % 100 === 0 || count === limit) {
    console.log(
      `${count} passages: ppl ${Math.exp(nll / count).toFixed(2)}, acc ${
        (100 * correct / count).toFixed(2)
      }%`,
    );
  }
}
loaded.model.backend.close();
