// Session state blobs: save after token k, load in a fresh process, continue = uninterrupted run;
// blobs of another model, truncated or corrupted blobs are refused with a StateFormatError.
import assert from "node:assert/strict";
import {
  decodeStateBlob,
  DEFAULT_SAMPLING,
  encodeStateBlob,
  generate,
  newSession,
  type Session,
  StateFormatError,
} from "../engine/mod.ts";
import { type LoadedModel, loadModel } from "../models/mod.ts";

const FIX = new URL("./fixtures/rwkv7/", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const SAMPLING = { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.95, repetitionPenalty: 1.1 };

async function run(loaded: LoadedModel, session: Session, prompt: number[], n: number): Promise<number[]> {
  const ids: number[] = [];
  for await (
    const ev of generate(loaded, session, { prompt, maxTokens: n, sampling: SAMPLING, ignoreEos: true })
  ) {
    if (ev.type === "token") ids.push(ev.tokenId);
  }
  return ids;
}

for (const fixture of ["rwkv7/tiny3", "rwkv4/tiny", "mamba/tiny", "mamba2/tiny", "retnet/tiny"]) {
  Deno.test(`${fixture}: a state saved after token k and resumed in a fresh process continues exactly`, async () => {
    const loaded = await loadModel(FIXTURES + fixture);
    const prompt = [5, 17, 99, 3, 42, 7];
    const whole = await run(loaded, newSession(loaded, 1234), prompt, 40);

    const first = newSession(loaded, 1234);
    const head = await run(loaded, first, prompt, 15);
    assert.deepEqual(head, whole.slice(0, 15));
    const blobPath = await Deno.makeTempFile({ suffix: ".state" });
    await Deno.writeFile(blobPath, encodeStateBlob(loaded, first));

    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        new URL("./helpers/resume_blob.ts", import.meta.url).pathname,
        FIXTURES + fixture,
        blobPath,
      ],
      stdout: "piped",
      stderr: "piped",
    });
    const out = await child.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const tail = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual([...head, ...tail], whole);
    await Deno.remove(blobPath);
  });
}

Deno.test("a blob round-trips every field", async () => {
  const loaded = await loadModel(FIX + "tiny");
  const s = newSession(loaded, 99);
  await run(loaded, s, [1, 2, 3], 5);
  s.carry = Uint8Array.from([0xe4]);
  const back = decodeStateBlob(loaded, encodeStateBlob(loaded, s));
  assert.deepEqual([...back.state.data], [...s.state.data]);
  assert.deepEqual([...back.logits!], [...s.logits!]);
  assert.equal(back.tokens, s.tokens);
  assert.equal(back.sampler.rng, s.sampler.rng);
  assert.deepEqual([...back.sampler.counts], [...s.sampler.counts]);
  assert.deepEqual([...back.carry], [0xe4]);
});

function refused(loaded: LoadedModel, blob: Uint8Array, pattern: RegExp) {
  assert.throws(() => decodeStateBlob(loaded, blob), (err: unknown) => {
    assert.ok(err instanceof StateFormatError, `expected StateFormatError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("a blob of another model is refused", async () => {
  const tiny = await loadModel(FIX + "tiny");
  const tiny3 = await loadModel(FIX + "tiny3");
  const s = newSession(tiny, 1);
  await run(tiny, s, [1, 2], 2);
  refused(tiny3, encodeStateBlob(tiny, s), /fingerprint belongs to another model \("tiny"\)/);
});

Deno.test("a truncated blob is refused", async () => {
  const loaded = await loadModel(FIX + "tiny");
  const s = newSession(loaded, 1);
  await run(loaded, s, [1, 2], 2);
  const blob = encodeStateBlob(loaded, s);
  refused(loaded, blob.subarray(0, blob.length - 100), /truncated/);
  refused(loaded, blob.subarray(0, 10), /truncated/);
});

Deno.test("a flipped byte anywhere is refused", async () => {
  const loaded = await loadModel(FIX + "tiny");
  const s = newSession(loaded, 1);
  await run(loaded, s, [1, 2], 2);
  const blob = encodeStateBlob(loaded, s);
  for (const at of [3, 9, 40, Math.floor(blob.length / 2), blob.length - 2]) {
    const bad = blob.slice();
    bad[at] ^= 0x10;
    assert.throws(() => decodeStateBlob(loaded, bad), StateFormatError, `flip at ${at}`);
  }
  const bad = blob.slice();
  bad[Math.floor(blob.length / 2)] ^= 1;
  refused(loaded, bad, /checksum does not match/);
});
