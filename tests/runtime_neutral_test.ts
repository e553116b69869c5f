// The core is runtime-neutral: with the Deno namespace gone (as on workerd or in a browser), the
// engine and a model assembled from bytes give the same seeded text as the Deno server's path
// (the directory loader). tools/check_layers.ts keeps `Deno.` out of the core in the first place.
import assert from "node:assert/strict";
import { DEFAULT_SAMPLING, generate, newSession } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("without the Deno namespace, a model assembled from bytes generates what the directory loader's does", async () => {
  const prompt = "And God said";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "tests/helpers/without_deno.ts", prompt],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const neutral = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(neutral.hasDeno, false);

  const loaded = await loadModel(`${ROOT}assets/rwkv7-kjv-4m`);
  try {
    const session = newSession(loaded, 7);
    let text = "";
    const events = generate(loaded, session, {
      prompt: loaded.tokenizer.encode(prompt),
      maxTokens: 24,
      sampling: { ...DEFAULT_SAMPLING, temperature: 0.8, topP: 0.9 },
      ignoreEos: true,
    });
    for await (const ev of events) if (ev.type === "token") text += ev.text;
    assert.equal(neutral.fingerprint, loaded.fingerprint);
    assert.equal(neutral.id, loaded.id);
    assert.ok(text.length > 0);
    assert.equal(neutral.text, text);
  } finally {
    loaded.model.backend.close();
  }
});
