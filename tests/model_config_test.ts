// config.json as Python writes it (bare Infinity, transformers 5's {"__float__": …}) loads and
// computes as the plain config does; a numeric field that is no number is refused by name.
import assert from "node:assert/strict";
import { loadModel, ModelLoadError } from "../models/mod.ts";

const MAMBA2 = new URL("./fixtures/mamba2/tiny/", import.meta.url).pathname;
const PROMPT: number[] = JSON.parse(Deno.readTextFileSync(MAMBA2 + "goldens.json")).prompt;

/** The committed Mamba-2 fixture in a temp dir, `"time_step_limit": <limit>` added to its config.json as raw text. */
async function mamba2With(limit: string | undefined): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const f of ["model.safetensors", "vocab.txt"]) await Deno.copyFile(MAMBA2 + f, `${dir}/${f}`);
  const config = await Deno.readTextFile(MAMBA2 + "config.json");
  const edited = limit === undefined
    ? config
    : config.replace(/\n}\s*$/, `,\n "time_step_limit": ${limit}\n}\n`);
  await Deno.writeTextFile(`${dir}/config.json`, edited);
  return dir;
}

async function logits(dir: string): Promise<Float32Array> {
  const { model } = await loadModel(dir, { backend: "reference" });
  return model.forward(PROMPT, model.newState());
}

const allFinite = (xs: Float32Array) => xs.every(Number.isFinite);

Deno.test("a Mamba-2 config.json with a bare Infinity (transformers 4.x) loads and computes as without it", async () => {
  const plain = await logits(await mamba2With(undefined));
  assert.ok(allFinite(plain));
  assert.deepEqual(await logits(await mamba2With("[0.0, Infinity]")), plain);
  // As before: the string "Infinity" (some converters) and null (JavaScript's JSON.stringify) leave dt unclamped.
  assert.deepEqual(await logits(await mamba2With('[0.0, "Infinity"]')), plain);
  assert.deepEqual(await logits(await mamba2With("[0.0, null]")), plain);
});

Deno.test('a Mamba-2 config.json with {"__float__": "Infinity"} (transformers 5.x) gives the same finite logits', async () => {
  const plain = await logits(await mamba2With(undefined));
  const wrapped = await logits(await mamba2With('[{"__float__": "0.0"}, {"__float__": "Infinity"}]'));
  assert.ok(allFinite(wrapped), "logits must be finite");
  assert.deepEqual(wrapped, plain);
  // A finite __float__ clamps exactly as the plain number does (and the clamp does bite here).
  const clamped = await logits(await mamba2With("[0.0, 0.01]"));
  assert.notDeepEqual(clamped, plain);
  assert.deepEqual(await logits(await mamba2With('[0.0, {"__float__": "0.01"}]')), clamped);
});

async function assertLoadError(dir: string, pattern: RegExp) {
  await assert.rejects(loadModel(dir, { backend: "reference" }), (err: unknown) => {
    assert.ok(err instanceof ModelLoadError, `expected ModelLoadError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("a time_step_limit that is not numbers is refused, naming the element", async () => {
  await assertLoadError(
    await mamba2With('[0.0, "abc"]'),
    /config\.json field time_step_limit\[1\] is "abc", expected a number/,
  );
  await assertLoadError(
    await mamba2With('[0.0, {"infinity": true}]'),
    /config\.json field time_step_limit\[1\] is \{"infinity":true\}, expected a number/,
  );
  await assertLoadError(
    await mamba2With("[0.0]"),
    /config\.json field time_step_limit is \[0\], expected a list of 2 numbers/,
  );
  await assertLoadError(
    await mamba2With('[0.0, {"__float__": "abc"}]'),
    /config\.json: not valid JSON \(\{"__float__": "abc"\} is not a float/,
  );
});

Deno.test("every family refuses a numeric config.json field that is not a number, by name", async () => {
  const cases: [string, string, unknown, RegExp][] = [
    ["mamba", "layer_norm_epsilon", "1e-5", /field layer_norm_epsilon is "1e-5", expected a number/],
    ["mamba", "hidden_size", { "__float__": "NaN" }, /field hidden_size is NaN, expected a number/],
    ["mamba2", "state_size", [8], /field state_size is \[8\], expected a number/],
    ["rwkv4", "hidden_size", "32", /field hidden_size is "32", expected a number/],
    ["retnet", "decoder_retention_heads", "4", /field decoder_retention_heads is "4", expected a number/],
    [
      "retnet",
      "layernorm_eps",
      { "__float__": "Infinity" },
      /field layernorm_eps is Infinity, expected a number/,
    ],
  ];
  for (const [family, key, value, pattern] of cases) {
    const src = new URL(`./fixtures/${family}/tiny/`, import.meta.url).pathname;
    const dir = await Deno.makeTempDir();
    for (const f of ["model.safetensors", "vocab.txt"]) await Deno.copyFile(src + f, `${dir}/${f}`);
    const config = JSON.parse(await Deno.readTextFile(src + "config.json"));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, [key]: value }));
    await assertLoadError(dir, pattern);
  }
});
