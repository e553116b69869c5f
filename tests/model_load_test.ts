// Model directories: detection, tokenizer choice, and ModelLoadErrors that say what was found.
import assert from "node:assert/strict";
import {
  loadModel,
  ModelLoadError,
  parseSafetensors,
  type RawTensor,
  writeSafetensors,
} from "../models/mod.ts";

const FIX = new URL("./fixtures/rwkv7/tiny/", import.meta.url).pathname;

async function dirWith(tensors: RawTensor[], extra: Record<string, string> = {}): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/model.safetensors`, writeSafetensors(tensors));
  for (const [name, text] of Object.entries(extra)) await Deno.writeTextFile(`${dir}/${name}`, text);
  return dir;
}

const fixtureTensors = () => [...parseSafetensors(Deno.readFileSync(FIX + "model.safetensors")).values()];

async function assertLoadError(dir: string, pattern: RegExp) {
  await assert.rejects(loadModel(dir, { backend: "reference" }), (err: unknown) => {
    assert.ok(err instanceof ModelLoadError, `expected ModelLoadError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("an RWKV-7 directory is detected from tensor names, dimensions from shapes", async () => {
  const loaded = await loadModel(FIX, { backend: "reference" });
  assert.equal(loaded.family, "rwkv7");
  assert.deepEqual(loaded.model.info.dims, {
    n_layer: 2,
    n_embd: 32,
    n_head: 4,
    head_size: 8,
    vocab_size: 96,
  });
  assert.equal(loaded.model.info.weightDType, "bf16");
  assert.match(loaded.fingerprint, /^[0-9a-f]{64}$/);
  assert.deepEqual(loaded.tokenizer.encode("Hi!"), [41, 74, 2]);
});

/** The fixture's tensors with emb.weight and head.weight grown (zero rows) or cut to `rows` rows. */
function withVocabRows(tensors: RawTensor[], rows: number): RawTensor[] {
  return tensors.map((t) => {
    if (t.name !== "emb.weight" && t.name !== "head.weight") return t;
    const rowBytes = t.bytes.byteLength / t.shape[0];
    const bytes = new Uint8Array(rows * rowBytes);
    bytes.set(t.bytes.subarray(0, Math.min(t.bytes.byteLength, bytes.byteLength)));
    return { ...t, shape: [rows, t.shape[1]], bytes };
  });
}

Deno.test("a BlinkDL directory with no tokenizer uses the World vocabulary", async () => {
  const dir = await dirWith(withVocabRows(fixtureTensors(), 65536));
  const loaded = await loadModel(dir, { backend: "reference" });
  assert.equal(loaded.model.info.vocabSize, 65536);
  assert.equal(loaded.tokenizer.vocabSize, 65530);
  assert.deepEqual(loaded.tokenizer.encode("Hello"), [33155]);
});

Deno.test("a tokenizer with ids the embedding has no row for is refused, naming both sizes", async () => {
  // A 1000-token RWKV-7 with no vocabulary file: the World vocabulary's ids reach 65529.
  await assertLoadError(
    await dirWith(withVocabRows(fixtureTensors(), 1000)),
    /has 1000 embedding rows but its tokenizer \(the default vocabulary rwkv_vocab_v20230424\.txt.*\) has 65530 ids: put the checkpoint's own vocabulary \.txt or tokenizer\.json beside its weights/,
  );
  // The fixture's own 96-token vocabulary, but an embedding cut to 90 rows.
  await assertLoadError(
    await dirWith(withVocabRows(fixtureTensors(), 90), {
      "vocab.txt": Deno.readTextFileSync(FIX + "vocab.txt"),
    }),
    /has 90 embedding rows but its tokenizer \(vocab\.txt\) has 96 ids/,
  );
});

Deno.test("an embedding padded past the tokenizer's ids loads (as Mamba's 50280 rows for 50277 tokens)", async () => {
  const vocab = Deno.readTextFileSync(FIX + "vocab.txt");
  const loaded = await loadModel(
    await dirWith(withVocabRows(fixtureTensors(), 128), { "vocab.txt": vocab }),
    {
      backend: "reference",
    },
  );
  assert.equal(loaded.model.info.vocabSize, 128);
  assert.equal(loaded.tokenizer.vocabSize, 96);
  for (
    const family of ["rwkv7/tiny", "rwkv7/tiny3", "rwkv4/tiny", "mamba/tiny", "mamba2/tiny", "retnet/tiny"]
  ) {
    const dir = new URL(`./fixtures/${family}/`, import.meta.url).pathname;
    const { model, tokenizer } = await loadModel(dir, { backend: "reference" });
    assert.ok(tokenizer.vocabSize <= model.info.vocabSize, family);
  }
});

Deno.test("a missing tensor is named", async () => {
  const dir = await dirWith(fixtureTensors().filter((t) => t.name !== "blocks.1.att.v2"));
  await assertLoadError(dir, /missing tensor "blocks\.1\.att\.v2"/);
});

Deno.test("a tensor of the wrong shape is named with the expected shape", async () => {
  const tensors = fixtureTensors().map((t) =>
    t.name === "blocks.0.att.key.weight" ? { ...t, shape: [16, 64] } : t
  );
  await assertLoadError(
    await dirWith(tensors),
    /"blocks\.0\.att\.key\.weight" has shape \[16,64\] but \[32, 32\]/,
  );
});

Deno.test("an unknown family says what was found and what is supported", async () => {
  const t = { name: "encoder.weight", dtype: "f32" as const, shape: [2], bytes: new Uint8Array(8) };
  await assertLoadError(
    await dirWith([t]),
    /not a known model family \(tensors encoder\.weight…\); supported: rwkv7/,
  );
});

Deno.test("a directory without weights, or with two weight files, is refused", async () => {
  const empty = await Deno.makeTempDir();
  await assertLoadError(empty, /expected exactly one \.safetensors file, found none/);
  const two = await dirWith(fixtureTensors());
  await Deno.copyFile(`${two}/model.safetensors`, `${two}/other.safetensors`);
  await assertLoadError(two, /found model\.safetensors, other\.safetensors/);
  await assertLoadError("/nonexistent/model/dir", /Cannot read model directory/);
});

Deno.test("a chat template in tokenizer_config.json is picked up (string or named list)", async () => {
  const vocab = Deno.readTextFileSync(FIX + "vocab.txt");
  const plain = await dirWith(fixtureTensors(), {
    "vocab.txt": vocab,
    "tokenizer_config.json": JSON.stringify({
      chat_template: "{{ messages[0].content }}",
      eos_token: "</s>",
    }),
  });
  const a = await loadModel(plain, { backend: "reference" });
  assert.deepEqual(a.chatTemplate, {
    source: "{{ messages[0].content }}",
    bosToken: undefined,
    eosToken: "</s>",
  });
  const named = await dirWith(fixtureTensors(), {
    "vocab.txt": vocab,
    "tokenizer_config.json": JSON.stringify({
      chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }],
      bos_token: { content: "<s>" },
    }),
  });
  const b = await loadModel(named, { backend: "reference" });
  assert.equal(b.chatTemplate?.source, "D");
  assert.equal(b.chatTemplate?.bosToken, "<s>");
  assert.equal((await loadModel(FIX, { backend: "reference" })).chatTemplate, undefined);
});

async function familyDir(family: string, config: Record<string, unknown> | undefined): Promise<string> {
  const src = new URL(`./fixtures/${family}/tiny/`, import.meta.url).pathname;
  const tensors = [...parseSafetensors(Deno.readFileSync(src + "model.safetensors")).values()];
  const extra: Record<string, string> = { "vocab.txt": Deno.readTextFileSync(src + "vocab.txt") };
  if (config) extra["config.json"] = JSON.stringify(config);
  return await dirWith(tensors, extra);
}

const fixtureConfig = (family: string) =>
  JSON.parse(Deno.readTextFileSync(new URL(`./fixtures/${family}/tiny/config.json`, import.meta.url)));

Deno.test("each family is recognised from its config.json, and an inconsistent config says what disagrees", async () => {
  for (const family of ["rwkv4", "mamba", "mamba2", "retnet"]) {
    const loaded = await loadModel(await familyDir(family, fixtureConfig(family)), { backend: "reference" });
    assert.equal(loaded.family, family);
  }
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["rwkv4", { num_hidden_layers: 9 }, /config\.json says 9 layers but the checkpoint has 4/],
    ["mamba", { state_size: 16 }, /config\.json says state_size 16, the tensors say 8/],
    ["mamba", { hidden_act: "gelu" }, /hidden_act "gelu" is not supported/],
    ["mamba2", { state_size: undefined }, /needs config\.json with state_size/],
    ["mamba2", { n_groups: 3 }, /conv1d has 96 channels but intermediate 64 \+ 2 × 3 groups × state 8 = 112/],
    ["retnet", { decoder_retention_heads: 5 }, /decoder_retention_heads dividing 32 and 64/],
    ["retnet", { decoder_normalize_before: false }, /post-norm\) is not supported/],
  ];
  for (const [family, change, pattern] of cases) {
    const config = { ...fixtureConfig(family), ...change };
    for (const k of Object.keys(change)) if (change[k] === undefined) delete config[k];
    await assertLoadError(await familyDir(family, config), pattern);
  }
});
