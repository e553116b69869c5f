// deno task quantize: every family's fixture and the default model written as int8 and q4 model
// directories (a real process, as users run it) that are smaller, load in their format (the embedding
// too), and predict exactly what the original does quantized as it loads; a mismatched --weights is
// refused.
import assert from "node:assert/strict";
import { loadModel, ModelLoadError } from "../models/mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MODELS = ["tests/fixtures/rwkv7/tiny3", "tests/fixtures/rwkv4/tiny", "tests/fixtures/mamba/tiny"]
  .concat(["tests/fixtures/mamba2/tiny", "tests/fixtures/retnet/tiny", "assets/rwkv7-kjv-4m"]);

async function quantize(input: string, output: string, weights: string) {
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks.quantize.command as string;
  const [, ...args] = task.split(/\s+/);
  return await new Deno.Command(Deno.execPath(), {
    args: [...args, input, output, "--weights", weights],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

for (const dir of MODELS) {
  Deno.test(`deno task quantize ${dir}: int8 and q4 directories predict as --weights does`, async () => {
    for (const [weights, format] of [["int8", "q8"], ["q4", "q4"]] as const) {
      const out = `${await Deno.makeTempDir()}/model`;
      const run = await quantize(dir, out, weights);
      assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
      assert.match(new TextDecoder().decode(run.stdout), new RegExp(`stored as ${format}`));
      const size = (await Deno.stat(`${out}/model.safetensors`)).size;
      assert.ok(
        size < (await Deno.stat(`${ROOT}${dir}/model.safetensors`)).size,
        "smaller than the original",
      );
      const prompt = [1, 2, 3, 5, 8, 13];
      const logits = [];
      for (const [from, w] of [[`${ROOT}${dir}`, format], [out, undefined]] as const) {
        const loaded = await loadModel(from, { weights: w });
        assert.equal(loaded.weights, format);
        // The embedding (whose dtype the model reports) is quantized too: stored so, or as it loads.
        assert.equal(loaded.model.info.weightDType, format);
        logits.push(loaded.model.forward(prompt, loaded.model.newState()));
        loaded.model.backend.close();
      }
      assert.deepEqual(logits[1], logits[0]);
      if (format === "q8") {
        await assert.rejects(loadModel(out, { weights: "q4" }), ModelLoadError);
      }
    }
  });
}
