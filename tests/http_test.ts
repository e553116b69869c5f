// The HTTP API through app.request(): OpenAI shapes, greedy parity through the API, streaming,
// logprobs, stop strings, and 4xx answers for bad input.
import assert from "node:assert/strict";
import { SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import { MemoryStore } from "../store/mod.ts";

const FIX = new URL("./fixtures/rwkv7/", import.meta.url).pathname;
const loaded = await loadModel(FIX + "tiny");
const models = new Map([[loaded.id, loaded]]);
const app = createApp({
  models,
  defaultModel: loaded.id,
  createdAt: 0,
  limits: { ...DEFAULT_LIMITS, maxPromptTokens: 100 },
  sessions: new SessionService({ store: new MemoryStore(), models, defaultModel: loaded.id }),
  apiKeys: new Set(),
});
const goldens = JSON.parse(Deno.readTextFileSync(FIX + "tiny/goldens.json"));
const charOf = (id: number) => String.fromCharCode(31 + id); // the fixture's vocab.txt

function post(body: unknown, path = "/v1/completions") {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
}

Deno.test("GET /v1/models lists the loaded model", async () => {
  const res = await app.request("/v1/models");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.object, "list");
  assert.deepEqual(body.data.map((m: { id: string }) => m.id), ["tiny"]);
  assert.equal(body.data[0].family, "rwkv7");
});

Deno.test("greedy completion over a token-id prompt reproduces the reference's tokens", async () => {
  const res = await post({
    prompt: goldens.prompt,
    max_tokens: 32,
    temperature: 0,
    ignore_eos: true,
    logprobs: 2,
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.object, "text_completion");
  assert.equal(body.choices[0].text, goldens.greedy.map(charOf).join(""));
  assert.equal(body.choices[0].finish_reason, "length");
  assert.deepEqual(body.usage, { prompt_tokens: 24, completion_tokens: 32, total_tokens: 56 });
  const lp = body.choices[0].logprobs;
  assert.equal(lp.tokens.length, 32);
  assert.deepEqual(lp.tokens, goldens.greedy.map(charOf));
  lp.token_logprobs.forEach((v: number, i: number) =>
    assert.ok(Math.abs(v - goldens.greedy_logprobs[i]) < 1e-3)
  );
  assert.equal(Object.keys(lp.top_logprobs[0]).length, 2);
  assert.equal(Object.values(lp.top_logprobs[0])[0], lp.token_logprobs[0]);
});

Deno.test("a streamed completion is the same text as the plain one, in OpenAI chunks ending with [DONE]", async () => {
  const req = { prompt: "hello there", max_tokens: 20, temperature: 0.8, seed: 11, ignore_eos: true };
  const plain = await (await post(req)).json();
  const res = await post({ ...req, stream: true });
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const data = await sseData(res);
  assert.equal(data.at(-1), "[DONE]");
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  assert.ok(chunks.length >= 2);
  assert.equal(chunks.map((c) => c.choices[0].text).join(""), plain.choices[0].text);
  assert.equal(chunks.at(-1).choices[0].finish_reason, "length");
  assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
});

Deno.test("the same seed gives the same text; another seed another text", async () => {
  const req = { prompt: "abc", max_tokens: 24, temperature: 1, seed: 5, ignore_eos: true };
  const a = (await (await post(req)).json()).choices[0].text;
  const b = (await (await post(req)).json()).choices[0].text;
  const c = (await (await post({ ...req, seed: 6 })).json()).choices[0].text;
  assert.equal(a, b);
  assert.notEqual(a, c);
});

Deno.test("a stop string ends the completion before it", async () => {
  const full =
    (await (await post({ prompt: goldens.prompt, max_tokens: 32, temperature: 0, ignore_eos: true }))
      .json()).choices[0].text as string;
  const stop = full.slice(10, 12);
  const res =
    await (await post({ prompt: goldens.prompt, max_tokens: 32, temperature: 0, stop, ignore_eos: true }))
      .json();
  assert.equal(res.choices[0].text, full.slice(0, full.indexOf(stop)));
  assert.equal(res.choices[0].finish_reason, "stop");
});

Deno.test("bad requests get 4xx answers in OpenAI's error shape, and the server keeps serving", async () => {
  const cases: [unknown, number, RegExp][] = [
    ["{not json", 400, /not valid JSON/],
    [{ prompt: 5 }, 400, /prompt/],
    [{ prompt: "hi", max_tokens: "ten" }, 400, /max_tokens/],
    [{ prompt: "hi", max_tokens: 100000 }, 400, /max_tokens/],
    [{ prompt: "hi", temperature: -1 }, 400, /temperature/],
    [{ prompt: "hi", model: "nope" }, 404, /Model "nope" is not served/],
    [{ prompt: [1, 2, 5000] }, 400, /Token id 5000 is outside the vocabulary/],
    [{ prompt: [] }, 400, /prompt/],
    [{ prompt: "" }, 400, /empty/],
    [{ prompt: "x".repeat(500) }, 413, /at most 100/],
    [{ prompt: "hi", n: 17 }, 400, /n/],
    [{ prompt: "hi", suffix: "end" }, 400, /suffix is not supported/],
    [{ prompt: "hi", surprise: true }, 400, /surprise|Unrecognized/i],
  ];
  for (const [body, status, pattern] of cases) {
    const res = await post(body);
    assert.equal(res.status, status, `${JSON.stringify(body)} answered ${res.status}`);
    const err = (await res.json()).error;
    assert.match(err.message, pattern, JSON.stringify(body));
    assert.equal(typeof err.type, "string");
  }
  assert.equal((await app.request("/v1/nothing")).status, 404);
  // A body streamed without a length is cut off at the limit.
  const huge = new ReadableStream({
    pull(ctrl) {
      ctrl.enqueue(new Uint8Array(1 << 20).fill(0x20));
    },
  });
  const big = await app.request(
    "/v1/completions",
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: huge,
      duplex: "half",
    } as RequestInit,
  );
  assert.equal(big.status, 413);
  await big.body?.cancel();
  assert.equal((await post({ prompt: "still alive", max_tokens: 2 })).status, 200);
});

Deno.test("streamed logprobs name the same tokens, with the same values, as the plain answer", async () => {
  const req = { prompt: goldens.prompt, max_tokens: 12, temperature: 0, logprobs: 1, ignore_eos: true };
  const plain = (await (await post(req)).json()).choices[0].logprobs;
  const chunks = (await sseData(await post({ ...req, stream: true }))).slice(0, -1).map((d) => JSON.parse(d));
  const streamed = chunks.map((c) => c.choices[0].logprobs).filter((lp) => lp !== null);
  assert.deepEqual(streamed.flatMap((lp) => lp.tokens), plain.tokens);
  assert.deepEqual(streamed.flatMap((lp) => lp.token_logprobs), plain.token_logprobs);
});
