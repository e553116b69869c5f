// Session state blobs: save after token k, load in a fresh process, continue = uninterrupted run;
// blobs of another model, truncated or corrupted blobs are refused with a StateFormatError, and so are
// blobs with a valid checksum whose header or payload makes no sense (clients upload blobs).
import assert from "node:assert/strict";
import {
  decodeStateBlob,
  DEFAULT_SAMPLING,
  encodeStateBlob,
  generate,
  newSession,
  roundToBf16,
  type Session,
  StateFormatError,
} from "../engine/mod.ts";
import { checkStateBlobPrefix, MAX_SESSION_TOKENS, maxStateBlobBytes } from "../engine/state_blob.ts";
import { crc32 } from "../engine/crc32.ts";
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

/** The header as encodeStateBlob writes it. */
interface Header {
  family: string;
  model: string;
  fingerprint: string;
  dtype: string;
  parts: { name: string; shape: number[] }[];
  tokens: number;
  sampler: { rng: number; counts: [number, number][] };
  carry: number[];
  stateFloats: number;
  logitFloats: number;
}

/** Edits to a blob: a new header (a value or raw JSON text), and changes to the f32 payload in place. */
interface Edit {
  header?: (h: Header) => unknown;
  json?: string;
  payload?: (floats: Float32Array) => void;
}

/** `blob` with its header and payload edited and a correct checksum: hostile, but not corrupted. */
function rebuild(blob: Uint8Array, edit: Edit): Uint8Array {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const headerLength = view.getUint32(12, true);
  const header: Header = JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + headerLength)));
  const json = new TextEncoder().encode(
    edit.json ?? JSON.stringify(edit.header ? edit.header(header) : header),
  );
  const payload = blob.slice(16 + headerLength, blob.length - 4); // f32 LE; the tests run on LE hosts
  edit.payload?.(new Float32Array(payload.buffer));
  const out = new Uint8Array(16 + json.length + payload.length + 4);
  const outView = new DataView(out.buffer);
  out.set(blob.subarray(0, 12));
  outView.setUint32(12, json.length, true);
  out.set(json, 16);
  out.set(payload, 16 + json.length);
  outView.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** rwkv7/tiny (vocabulary 96, state att_x [2,32], wkv [2,4,8,8], ffn_x [2,32]) after a few tokens. */
async function tinyBlob(): Promise<{ loaded: LoadedModel; blob: Uint8Array }> {
  const loaded = await loadModel(FIX + "tiny");
  const s = newSession(loaded, 7);
  await run(loaded, s, [1, 2, 3], 4);
  s.carry = Uint8Array.from([0xe4, 0xb8]);
  return { loaded, blob: encodeStateBlob(loaded, s) };
}

Deno.test("the test helper rebuilds an unedited blob byte for byte", async () => {
  const { loaded, blob } = await tinyBlob();
  assert.deepEqual(rebuild(blob, {}), blob);
  assert.deepEqual([...decodeStateBlob(loaded, rebuild(blob, {})).carry], [0xe4, 0xb8]);
});

Deno.test("a header that is not a JSON object is refused", async () => {
  const { loaded, blob } = await tinyBlob();
  for (const json of ["null", "5", "[1,2]", '"header"', "true"]) {
    refused(loaded, rebuild(blob, { json }), /^State blob header is not an object/);
  }
});

Deno.test("header fields of the wrong type are refused, naming the field", async () => {
  const { loaded, blob } = await tinyBlob();
  const cases: [(h: Header) => unknown, RegExp][] = [
    [(h) => ({ ...h, family: 5 }), /field family is 5, not a string/],
    [(h) => ({ ...h, model: { id: "tiny" } }), /field model is \{"id":"tiny"\}, not a string/],
    [(h) => ({ ...h, model: undefined }), /field model is undefined, not a string/],
    [(h) => ({ ...h, fingerprint: null }), /field fingerprint is null, not a string/],
    [(h) => ({ ...h, dtype: ["f32"] }), /field dtype is \["f32"\], not a string/],
    [(h) => ({ ...h, parts: "att_x" }), /field parts is "att_x", not an array/],
    [(h) => ({ ...h, parts: [null, ...h.parts.slice(1)] }), /field parts\[0\] is null, not \{name/],
    [(h) => ({ ...h, parts: [{ ...h.parts[0], name: 5 }, ...h.parts.slice(1)] }), /field parts\[0\] is/],
    [
      (h) => ({ ...h, parts: [h.parts[0], { ...h.parts[1], shape: [2, 4, 8, 8.5] }, h.parts[2]] }),
      /parts\[1\]/,
    ],
    [(h) => ({ ...h, parts: [h.parts[0], { ...h.parts[1], shape: "2,4,8,8" }, h.parts[2]] }), /parts\[1\]/],
    [(h) => ({ ...h, tokens: -1 }), /field tokens is -1, not a whole number/],
    [(h) => ({ ...h, tokens: 2.5 }), /field tokens is 2.5, not a whole number/],
    [(h) => ({ ...h, tokens: "7" }), /field tokens is "7", not a whole number/],
    [(h) => ({ ...h, tokens: 2 ** 53 }), /field tokens is 9007199254740992, not a whole number/],
    [
      (h) => ({ ...h, tokens: MAX_SESSION_TOKENS + 1 }),
      /field tokens is 281474976710657, over the 281474976710656/,
    ],
    // Lengths that still add up to the payload, so only their type is wrong.
    [
      (h) => ({ ...h, stateFloats: h.stateFloats + 0.5, logitFloats: h.logitFloats - 0.5 }),
      /stateFloats is 640.5, not/,
    ],
    [(h) => ({ ...h, stateFloats: String(h.stateFloats) }), /field stateFloats is "640", not a whole number/],
    [(h) => ({ ...h, logitFloats: [h.logitFloats] }), /field logitFloats is \[96\], not a whole number/],
  ];
  for (const [header, pattern] of cases) refused(loaded, rebuild(blob, { header }), pattern);
  decodeStateBlob(loaded, rebuild(blob, { header: (h) => ({ ...h, tokens: MAX_SESSION_TOKENS }) }));
});

Deno.test("a sampler state that is not one is refused, naming the entry", async () => {
  const { loaded, blob } = await tinyBlob();
  const sampler = (sampler: unknown) => (h: Header) => ({ ...h, sampler });
  const counts = (counts: unknown) => (h: Header) => ({ ...h, sampler: { ...h.sampler, counts } });
  const cases: [(h: Header) => unknown, RegExp][] = [
    [sampler(null), /field sampler is null, not an object/],
    [sampler(5), /field sampler is 5, not an object/],
    [sampler([1, []]), /field sampler is \[1,\[\]\], not an object/],
    [sampler({ counts: [] }), /field sampler.rng is undefined, not a 32-bit unsigned integer/],
    [sampler({ rng: -1, counts: [] }), /field sampler.rng is -1/],
    [sampler({ rng: 2 ** 32, counts: [] }), /field sampler.rng is 4294967296/],
    [sampler({ rng: 1.5, counts: [] }), /field sampler.rng is 1.5/],
    [sampler({ rng: "1", counts: [] }), /field sampler.rng is "1"/],
    [counts("none"), /field sampler.counts is "none", not an array/],
    [counts([5]), /field sampler.counts\[0\] is 5, not a \[tokenId, count\] pair/],
    [counts([[1, 2], [3, 4, 5]]), /field sampler.counts\[1\] is \[3,4,5\], not a \[tokenId, count\] pair/],
    [counts([[-1, 1]]), /field sampler.counts\[0\] has token id -1, outside the vocabulary 0..95/],
    [counts([[96, 1]]), /field sampler.counts\[0\] has token id 96, outside the vocabulary 0..95/],
    [counts([[1.5, 1]]), /field sampler.counts\[0\] has token id 1.5/],
    [counts([["1", 1]]), /field sampler.counts\[0\] has token id "1"/],
    [counts([[1, 0]]), /field sampler.counts\[0\] has count 0, not a positive integer/],
    [counts([[1, -2]]), /field sampler.counts\[0\] has count -2/],
    [counts([[1, 1.5]]), /field sampler.counts\[0\] has count 1.5/],
    [counts([[1, 2 ** 53]]), /field sampler.counts\[0\] has count 9007199254740992/],
    [counts([[1, 2], [4, 1], [1, 3]]), /field sampler.counts\[2\] repeats token id 1/],
    [
      counts(Array.from({ length: 97 }, (_, i) => [i % 96, 1])),
      /sampler.counts has 97 entries, more than the 96/,
    ],
  ];
  for (const [header, pattern] of cases) refused(loaded, rebuild(blob, { header }), pattern);
});

Deno.test("a carry that cannot start a UTF-8 character is refused", async () => {
  const { loaded, blob } = await tinyBlob();
  const cases: [unknown, RegExp][] = [
    ["e4", /field carry is "e4", not an array of at most 3 bytes/],
    [[0xf0, 0x9f, 0x98, 0x80], /field carry is \[240,159,152,128\], not an array of at most 3 bytes/],
    [[0x1e4], /field carry\[0\] is 484, not a byte/],
    [[-28], /field carry\[0\] is -28, not a byte/],
    [[0xe4, 1.5], /field carry\[1\] is 1.5, not a byte/],
    [[0xe4, "b8"], /field carry\[1\] is "b8", not a byte/],
    [[0x41], /field carry\[0\] is 0x41, not the lead byte/],
    [[0x80], /field carry\[0\] is 0x80, not the lead byte/],
    [[0xc0], /field carry\[0\] is 0xc0, not the lead byte/],
    [[0xf5], /field carry\[0\] is 0xf5, not the lead byte/],
    [[0xc3, 0xa9], /field carry holds 2 bytes, a whole character/],
    [[0xe4, 0xb8, 0xad], /field carry holds 3 bytes, a whole character/],
    [[0xe4, 0x41], /field carry\[1\] is 0x41, which cannot follow 0xe4/],
    [[0xf0, 0x9f, 0xc0], /field carry\[2\] is 0xc0, which cannot follow 0xf0/],
    [[0xe0, 0x80], /field carry\[1\] is 0x80, which cannot follow 0xe0/], // overlong
    [[0xed, 0xa0], /field carry\[1\] is 0xa0, which cannot follow 0xed/], // surrogate
  ];
  for (const [carry, pattern] of cases) {
    refused(loaded, rebuild(blob, { header: (h) => ({ ...h, carry }) }), pattern);
  }
  for (const carry of [[], [0xc3], [0xe4, 0xb8], [0xf0, 0x9f, 0x98], [0xf4, 0x8f]]) {
    const back = decodeStateBlob(loaded, rebuild(blob, { header: (h) => ({ ...h, carry }) }));
    assert.deepEqual([...back.carry], carry);
  }
});

Deno.test("NaN or Infinity in the state or the logits is refused, naming the part and element", async () => {
  const { loaded, blob } = await tinyBlob();
  // State: att_x [2,32] (64 floats), wkv [2,4,8,8] (512), ffn_x [2,32] (64); then 96 logits.
  refused(loaded, rebuild(blob, { payload: (f) => f.fill(NaN) }), /field state\.att_x\[0\]\[0\] is NaN/);
  const wkv = 64 + ((1 * 4 + 0) * 8 + 2) * 8 + 3;
  refused(
    loaded,
    rebuild(blob, { payload: (f) => f[wkv] = Infinity }),
    /field state\.wkv\[1\]\[0\]\[2\]\[3\] is Infinity \(state float 339\)/,
  );
  refused(
    loaded,
    rebuild(blob, { payload: (f) => f[639] = -Infinity }),
    /field state\.ffn_x\[1\]\[31\] is -Infinity/,
  );
  refused(
    loaded,
    rebuild(blob, { payload: (f) => f[640 + 7] = -Infinity }),
    /field logits\[7\] is -Infinity/,
  );
  refused(loaded, rebuild(blob, { payload: (f) => f[640 + 95] = NaN }), /field logits\[95\] is NaN/);
  const big = rebuild(blob, { payload: (f) => f.fill(3.4e38) }); // large but finite is a state
  assert.equal(decodeStateBlob(loaded, big).state.data[100], new Float32Array([3.4e38])[0]);
});

for (const fixture of ["rwkv4/tiny", "mamba/tiny", "mamba2/tiny", "retnet/tiny"]) {
  Deno.test(`${fixture}: NaN in the last state float names the last element of the last part`, async () => {
    const loaded = await loadModel(FIXTURES + fixture);
    const s = newSession(loaded, 3);
    await run(loaded, s, [4, 5], 2);
    const parts = loaded.model.info.stateParts;
    const last = parts[parts.length - 1];
    const name = `state.${last.name}${last.shape.map((d) => `[${d - 1}]`).join("")}`;
    const bad = rebuild(encodeStateBlob(loaded, s), {
      payload: (f) => f[loaded.model.info.stateSize - 1] = NaN,
    });
    refused(loaded, bad, new RegExp(`field ${name.replaceAll(/[.[\]]/g, "\\$&")} is NaN`));
  });
}

Deno.test("an absurd header length is refused from the first 16 bytes", async () => {
  const { loaded, blob } = await tinyBlob();
  const most = checkStateBlobPrefix(loaded, blob.subarray(0, 16));
  assert.ok(blob.length <= most && most <= maxStateBlobBytes(loaded), `${blob.length} <= ${most}`);
  assert.equal(checkStateBlobPrefix(loaded, blob), most);

  const hostile = blob.slice(0, 16);
  new DataView(hostile.buffer).setUint32(12, 500 * 1024 * 1024, true);
  assert.throws(
    () => checkStateBlobPrefix(loaded, hostile),
    /header length is 524288000 bytes, over the \d+/,
  );
  assert.throws(() => checkStateBlobPrefix(loaded, blob.subarray(0, 12)), /truncated: 12 bytes/);
  const wrongMagic = blob.slice(0, 16);
  wrongMagic[0] = 0x41;
  assert.throws(() => checkStateBlobPrefix(loaded, wrongMagic), StateFormatError);
  const wrongVersion = blob.slice(0, 16);
  wrongVersion[8] = 3;
  assert.throws(() => checkStateBlobPrefix(loaded, wrongVersion), /version 3 is not supported/);
});

Deno.test("a valid blob whose header is padded past the bound is refused before parsing", async () => {
  const { loaded, blob } = await tinyBlob();
  const header = JSON.parse(
    new TextDecoder().decode(blob.subarray(16, 16 + new DataView(blob.buffer).getUint32(12, true))),
  );
  const padded = rebuild(blob, { json: JSON.stringify(header) + " ".repeat(1024 * 1024) });
  refused(loaded, padded, /header length is 10\d{5} bytes, over the \d+ a header for "tiny" may have/);
  assert.ok(padded.length <= 512 * 1024 * 1024); // the route's own limit lets it through
  decodeStateBlob(loaded, rebuild(blob, { json: JSON.stringify(header) + " ".repeat(1024) })); // some slack is fine
});

Deno.test("the size bound holds the largest real header: every token counted, a 3-byte carry", async () => {
  for (const fixture of ["rwkv7/tiny", "rwkv7/tiny3", "mamba/tiny"]) {
    const loaded = await loadModel(FIXTURES + fixture);
    const s = newSession(loaded, 5);
    await run(loaded, s, [1], 1);
    s.tokens = MAX_SESSION_TOKENS;
    s.sampler.rng = 2 ** 32 - 1;
    s.sampler.counts = new Map(
      Array.from({ length: loaded.model.info.vocabSize }, (_, id) => [id, Number.MAX_SAFE_INTEGER]),
    );
    s.carry = Uint8Array.from([0xf0, 0x9f, 0x98]);
    const blob = encodeStateBlob(loaded, s);
    assert.ok(
      blob.length <= maxStateBlobBytes(loaded),
      `${fixture}: ${blob.length} > ${maxStateBlobBytes(loaded)}`,
    );
    const back = decodeStateBlob(loaded, blob);
    assert.equal(back.sampler.counts.size, loaded.model.info.vocabSize);
    assert.equal(back.tokens, MAX_SESSION_TOKENS);
  }
});

Deno.test("roundToBf16 rounds to the nearest bf16, ties to even", () => {
  const ulp = 2 ** -7; // bf16 keeps 7 fraction bits
  const values = Float32Array.from([1, 1 + ulp / 2, 1 + 1.5 * ulp, 1 + ulp / 4, -3 - 0.75 * ulp * 2, 0, -0]);
  roundToBf16(values);
  assert.deepEqual([...values], [1, 1, 1 + 2 * ulp, 1, -3 - ulp * 2, 0, -0]);
  const nan = Float32Array.from([NaN]);
  roundToBf16(nan);
  assert.ok(Number.isNaN(nan[0]));
});

Deno.test("a bf16 blob stores the state in half the bytes, rounded; logits stay exact", async () => {
  const loaded = await loadModel(FIX + "tiny");
  const s = newSession(loaded, 99);
  await run(loaded, s, [1, 2, 3], 5);
  const f32 = encodeStateBlob(loaded, s);
  const bf16 = encodeStateBlob(loaded, s, "bf16");
  const n = s.state.data.length;
  // The header differs by its dtype's two letters ("bf16" against "f32": one more byte).
  assert.equal(f32.length - bf16.length, 2 * n - 1);
  const back = decodeStateBlob(loaded, bf16);
  const rounded = s.state.data.slice();
  roundToBf16(rounded);
  assert.deepEqual([...back.state.data], [...rounded]);
  assert.ok(rounded.some((v, i) => v !== s.state.data[i]), "the state had values bf16 cannot hold");
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(back.state.data[i] - s.state.data[i]) <= Math.abs(s.state.data[i]) * 2 ** -8);
  }
  assert.deepEqual([...back.logits!], [...s.logits!]);
  assert.equal(back.tokens, s.tokens);
  // A rounded state is stored exactly: encoding what was decoded gives the same bytes.
  assert.deepEqual(encodeStateBlob(loaded, back, "bf16"), bf16);
  // An f32 server reads bf16 blobs and a bf16 server f32 ones: the type is the blob's.
  assert.deepEqual([...decodeStateBlob(loaded, f32).state.data], [...s.state.data]);
});

Deno.test("a blob whose state type is unknown, or whose length does not fit its type, is refused", async () => {
  const { loaded, blob } = await tinyBlob();
  refused(
    loaded,
    rebuild(blob, { header: (h) => ({ ...h, dtype: "f16" }) }),
    /field dtype is "f16", not one of "f32", "bf16"/,
  );
  // An f32 payload labelled bf16 is twice as long as the header says.
  refused(loaded, rebuild(blob, { header: (h) => ({ ...h, dtype: "bf16" }) }), /trailing bytes/);
});
