// Our tokenizers on the real vocabulary files in ../shared/data against goldens from the
// reference tokenizers (tools/make_tokenizer_goldens.py): LAMBADA passages, emoji, CJK,
// whitespace runs and invalid bytes.
import assert from "node:assert/strict";
import { decodeTokens, HuggingFaceTokenizer, Utf8Stream, WorldTokenizer } from "../tokenizers/mod.ts";

const DATA = new URL("../../shared/data/", import.meta.url).pathname;
const FIX = new URL("./fixtures/tokenizers/", import.meta.url).pathname;

interface Case {
  text?: string;
  hex?: string;
  ids: number[];
}

const cases = (file: string): Case[] => JSON.parse(Deno.readTextFileSync(FIX + file)).cases;
const hexBytes = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));

Deno.test("World tokenizer matches BlinkDL's reference on LAMBADA, emoji, CJK and invalid bytes", () => {
  const world = new WorldTokenizer(Deno.readTextFileSync(DATA + "rwkv_vocab_v20230424.txt"));
  assert.equal(world.vocabSize, 65530);
  let n = 0;
  for (const c of cases("world_goldens.json")) {
    const ids = c.text !== undefined ? world.encode(c.text) : world.encodeBytes(hexBytes(c.hex!));
    assert.deepEqual(ids, c.ids, `encoding ${JSON.stringify(c.text ?? c.hex)}`);
    if (c.text !== undefined) assert.equal(decodeTokens(world, ids), c.text);
    n++;
  }
  assert.ok(n > 300);
});

Deno.test("GPT-NeoX tokenizer.json matches the byte-level BPE reference", () => {
  const neox = new HuggingFaceTokenizer(JSON.parse(Deno.readTextFileSync(DATA + "20B_tokenizer.json")));
  assert.equal(neox.endOfText, 0);
  for (const c of cases("neox_goldens.json")) {
    const ids = neox.encode(c.text!);
    assert.deepEqual(ids, c.ids, `encoding ${JSON.stringify(c.text)}`);
    assert.equal(decodeTokens(neox, ids), c.text!.normalize("NFC"));
  }
});

Deno.test("streaming detokenization never emits a broken character, on real tokens", () => {
  const world = new WorldTokenizer(Deno.readTextFileSync(DATA + "rwkv_vocab_v20230424.txt"));
  const neox = new HuggingFaceTokenizer(JSON.parse(Deno.readTextFileSync(DATA + "20B_tokenizer.json")));
  const text = "emoji 😀👍🏽 and CJK 中文分词测试 and é";
  for (const tok of [world, neox]) {
    const ids = tok.encode(text);
    const stream = new Utf8Stream();
    const pieces = ids.map((id) => stream.push(tok.tokenBytes(id)));
    for (const p of pieces) {
      assert.ok(!p.includes("\ufffd"), `piece ${JSON.stringify(p)} holds a broken character`);
    }
    assert.equal(pieces.join("") + stream.flush(), text);
    // Some token must have ended inside a character for this test to mean anything.
    assert.ok(pieces.some((p) => p === ""), "no token split a character");
  }
});
