// Child process for state_blob_test.ts: loads a model and a saved session, generates 25 more
// tokens with the sampling the test uses, prints their ids as JSON.
import { decodeStateBlob, DEFAULT_SAMPLING, generate } from "../../engine/mod.ts";
import { loadModel } from "../../models/mod.ts";

const [dir, blobPath] = Deno.args;
const loaded = await loadModel(dir);
const session = decodeStateBlob(loaded, await Deno.readFile(blobPath));
const sampling = { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.95, repetitionPenalty: 1.1 };
const ids: number[] = [];
for await (const ev of generate(loaded, session, { prompt: [], maxTokens: 25, sampling, ignoreEos: true })) {
  if (ev.type === "token") ids.push(ev.tokenId);
}
console.log(JSON.stringify(ids));
