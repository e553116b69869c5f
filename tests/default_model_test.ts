// The embedded default model writes English: on held-out KJV verses (the end of Revelation,
// inside the validation split the trainer never trained on) its loss is far below chance,
// and the CLI streams text of real words.
import assert from "node:assert/strict";
import { logSoftmax } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";

const DIR = new URL("../assets/rwkv7-kjv-4m", import.meta.url).pathname;
const HELD_OUT =
  "And the Spirit and the bride say, Come. And let him that heareth say, Come. And let him that " +
  "is athirst come. And whosoever will, let him take the water of life freely.\n";

Deno.test("the default model predicts held-out verses far better than chance", async () => {
  const loaded = await loadModel(DIR);
  const ids = loaded.tokenizer.encode(HELD_OUT);
  const state = loaded.model.newState();
  let logits = loaded.model.forward([ids[0]], state);
  let nll = 0;
  for (const id of ids.slice(1)) {
    nll -= logSoftmax(logits)[id];
    logits = loaded.model.forward([id], state);
  }
  const perToken = nll / (ids.length - 1);
  const chance = Math.log(loaded.model.info.vocabSize);
  assert.ok(perToken < 0.6 * chance, `loss ${perToken.toFixed(3)} nats/token vs chance ${chance.toFixed(3)}`);
});

Deno.test("deno task generate streams English words from the default model", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "cli/generate.ts",
      "--prompt",
      "And the LORD said unto Moses,",
    ] // prompt
      .concat(["--max-tokens", "60", "--temperature", "0", "--stats"]),
    cwd: new URL("../", import.meta.url).pathname,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(text.startsWith("And the LORD said unto Moses,"));
  const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
  const common = new Set([
    "the",
    "and",
    "of",
    "to",
    "that",
    "in",
    "he",
    "shall",
    "unto",
    "i",
    "his",
    "a",
    "for",
  ]);
  assert.ok(words.length > 20, text);
  assert.ok(
    words.filter((w) => common.has(w)).length >= 5,
    `few common English words in ${JSON.stringify(text)}`,
  );
  assert.match(new TextDecoder().decode(out.stderr), /tokens\/s/);
});

Deno.test("deno task lambada reports perplexity and accuracy over the real test set", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "cli/lambada.ts", "--limit", "3"],
    cwd: new URL("../", import.meta.url).pathname,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const m = new TextDecoder().decode(out.stdout).match(/^3 passages: ppl ([\d.]+), acc ([\d.]+)%$/m);
  assert.ok(m, new TextDecoder().decode(out.stdout));
  assert.ok(Number.isFinite(Number(m[1])) && Number(m[1]) > 1);
  assert.ok(Number(m[2]) >= 0 && Number(m[2]) <= 100);
});
