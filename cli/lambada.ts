/**
 * LAMBADA perplexity and accuracy of a model, as the RWKV and Mamba papers
 * report them: each passage's last word is predicted from the rest, teacher
 * forced; accuracy counts passages whose every target token is the argmax.
 *
 *   deno task lambada --model DIR [--data lambada_test.jsonl] [--limit N]
 *
 * World-vocabulary models get token 0 (end-of-text) before each passage, as
 * BlinkDL's evaluation does. Prints the running figures every 100 passages, and
 * progress (rate, ETA) on a terminal.
 *
 * @module
 */

import { argmax, logSoftmax } from "../engine/mod.ts";
import { WorldTokenizer } from "../tokenizers/mod.ts";
import { exitOnUserMistakes, fail, parseCommand } from "./command.ts";
import { DEFAULT_MODEL_DIR, intFlag, weightsFlag } from "./defaults.ts";
import { loadWithProgress } from "./load.ts";
import { Progress } from "./progress.ts";

const DEFAULT_DATA = new URL("../../shared/data/lambada_test.jsonl", import.meta.url).pathname;
const USAGE = `Usage: deno task lambada [--model DIR] [--data FILE] [--limit N] [--weights int8|q4]
LAMBADA perplexity and last-word accuracy, teacher forced.
  --model DIR    model directory (default: the embedded model)
  --data FILE    LAMBADA test set as JSON lines {"text": ...} (default ${DEFAULT_DATA})
  --limit N      score only the first N passages
  --weights W    quantize the matrices as they load: int8 or q4 (default: the checkpoint's precision)
  -h, --help     this text`;

exitOnUserMistakes();
const { values } = parseCommand(USAGE, {
  model: { type: "string" },
  data: { type: "string" },
  limit: { type: "string" },
  weights: { type: "string" },
});
const data = values.data ?? DEFAULT_DATA;
const raw = await Deno.readTextFile(data).catch((err) => {
  if (err instanceof Deno.errors.NotFound) fail(`No LAMBADA data at ${data}: pass --data FILE`);
  throw err;
});
const lines = raw.split("\n").filter((l) => l.trim());
const limit = Math.min(intFlag("limit", values.limit, lines.length), lines.length);
const loaded = await loadWithProgress(values.model ?? DEFAULT_MODEL_DIR, {
  weights: weightsFlag(values.weights),
});
const progress = new Progress("scoring", { total: limit, unit: "passages", every: 1 });
const prefix = loaded.tokenizer instanceof WorldTokenizer ? [0] : [];
let nll = 0, correct = 0, count = 0;
for (const line of lines.slice(0, limit)) {
  const text: string = passageText(line, count + 1);
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
  progress.tick();
  if (count % 100 === 0 || count === limit) {
    progress.clear();
    console.log(
      `${count} passages: ppl ${Math.exp(nll / count).toFixed(2)}, acc ${
        (100 * correct / count).toFixed(2)
      }%`,
    );
  }
}
progress.done();
loaded.model.backend.close();

/** The passage of one JSON line; a line that is not `{"text": "..."}` is the data's mistake, named. */
function passageText(line: string, n: number): string {
  try {
    const text = JSON.parse(line).text;
    if (typeof text === "string" && text.includes(" ")) return text;
  } catch { /* reported below */ }
  return fail(`${data}: line ${n} is not {"text": "..."} with at least two words`);
}
