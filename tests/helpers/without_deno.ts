// Runs the core as a runtime without the Deno namespace would: reads the default model's files
// first, removes `Deno` from the global scope, then imports the engine and the runtime-neutral
// model assembly, builds the model from bytes and prints a seeded generation as JSON. The kernel
// module comes through `fetch` of its file URL, as in a browser.
const dir = new URL("../../assets/rwkv7-kjv-4m/", import.meta.url);
const weights = await Deno.readFile(new URL("model.safetensors", dir));
const vocab = await Deno.readTextFile(new URL("vocab.txt", dir));
const prompt = Deno.args[0] ?? "In the beginning";

// deno-lint-ignore no-explicit-any
delete (globalThis as any).Deno;

const { assembleModel } = await import("../../models/mod.ts");
const { DEFAULT_SAMPLING, generate, newSession } = await import("../../engine/mod.ts");
const loaded = await assembleModel({
  where: "rwkv7-kjv-4m",
  weights: { name: "model.safetensors", bytes: weights },
  vocab: { name: "vocab.txt", text: vocab },
});
const session = newSession(loaded, 7);
let text = "";
const events = generate(loaded, session, {
  prompt: loaded.tokenizer.encode(prompt),
  maxTokens: 24,
  sampling: { ...DEFAULT_SAMPLING, temperature: 0.8, topP: 0.9 },
  ignoreEos: true,
});
for await (const ev of events) if (ev.type === "token") text += ev.text;
console.log(
  JSON.stringify({ hasDeno: "Deno" in globalThis, id: loaded.id, fingerprint: loaded.fingerprint, text }),
);
loaded.model.backend.close();
