// A seeded, bounded fuzz of the HTTP API against a real server process on the embedded default
// model: every route and method gets hostile requests (malformed JSON, wrong types and absurd
// numbers in every field, huge strings and arrays, lone surrogates and NUL bytes, bad JSON
// schemas, corrupt state blobs, junk ids and headers). Each must be answered in time, never with
// a 5xx, a 4xx with a JSON error message, and the server must still answer a normal request as
// before. FUZZ_SEED and FUZZ_CASES change the run; a failure prints the seed and the request.
import assert from "node:assert/strict";
import { DEFAULT_MODEL_DIR } from "../cli/defaults.ts";
import { SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, decodeSegment, DEFAULT_LIMITS } from "../routes/mod.ts";
import { openDenoKvStore } from "../store/mod.ts";
import { edgeRequest } from "./helpers/edge_requests.ts";
import { type Attempt, describeAttempt, hostileRequest } from "./helpers/hostile_requests.ts";
import { prng } from "./helpers/hostile_values.ts";
import { startServer } from "./helpers/server.ts";
import { postJson } from "./helpers/sse.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261205);
const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 500);
/** The fuzzed server's API key, sent unless a request sets its own Authorization. */
const KEY = "fuzz-key";
/** Longest a request may take, its streamed body read to the end, on a busy machine. */
const ANSWER_MS = 15_000;

/**
 * Sends `a` and reads its whole answer (a stream to its end, or its first bytes when it hangs up)
 * within {@linkcode ANSWER_MS}.
 */
async function send(
  base: string,
  a: Attempt,
): Promise<{ status: number; type: string; text: string; ms: number }> {
  const started = performance.now();
  const res = await fetch(base + a.path, {
    method: a.method,
    headers: { authorization: `Bearer ${KEY}`, ...a.headers },
    body: a.body,
    signal: AbortSignal.timeout(ANSWER_MS),
  });
  let text = "";
  if (a.hangUp) {
    const reader = res.body!.getReader();
    text = new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
  } else text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    text,
    ms: performance.now() - started,
  };
}

/** What is wrong with an answer, or undefined when it is a fine answer to a hostile request. */
function fault(a: Attempt, r: { status: number; type: string; text: string }): string | undefined {
  if (r.status >= 500) return `status ${r.status}`;
  // A stream that failed after its headers says so in an error event: only a shutdown may send one.
  if (r.type.startsWith("text/event-stream") && /^event: error$/m.test(r.text)) {
    return "a stream that ended with an error event";
  }
  if (r.status < 400 || a.method === "HEAD") return undefined;
  if (!r.type.startsWith("application/json")) return `a ${r.status} that is not JSON (${r.type})`;
  try {
    const message = JSON.parse(r.text)?.error?.message;
    if (typeof message !== "string" || message.length === 0) return `a ${r.status} without error.message`;
  } catch {
    return `a ${r.status} whose body does not parse`;
  }
  return undefined;
}

Deno.test(`fuzz: ${CASES} hostile requests (seed ${SEED}) get a timely 4xx JSON error or a 2xx, never a 5xx`, async () => {
  const server = await startServer({
    STORE: `${await Deno.makeTempDir()}/fuzz.kv`, // the default store, with Deno KV's 64 KiB values
    API_KEYS: KEY,
    QUOTA_RPM: "0",
    LOG_FORMAT: "off",
    MAX_TOKENS: "16",
    MAX_PROMPT_TOKENS: "512", // n 16 with echo and logprobs prefills and scores the prompt 16 times
  });
  let exited: Deno.CommandStatus | undefined;
  server.child.status.then((s) => exited = s);
  try {
    const base = server.base;
    const auth = { authorization: `Bearer ${KEY}` };
    const probe = { prompt: "In the beginning God", max_tokens: 8, temperature: 0, ignore_eos: true };
    const expected = (await (await postJson(`${base}/v1/completions`, probe, auth)).json()).choices[0].text;
    const newSession = async () =>
      (await (await postJson(`${base}/v1/sessions`, { prompt: "And God" }, auth)).json()).id;
    const session = await newSession();
    const idle = await newSession();
    const blob = new Uint8Array(
      await (await fetch(`${base}/v1/sessions/${idle}/state`, { headers: auth })).arrayBuffer(),
    );
    const healthy = async (after: string) => {
      assert.equal(exited, undefined, `the server exited (${JSON.stringify(exited)}) after ${after}`);
      const r = await postJson(`${base}/v1/completions`, probe, auth);
      assert.equal(r.status, 200, `a normal completion after ${after}`);
      assert.equal((await r.json()).choices[0].text, expected, `the same greedy text after ${after}`);
      // The fuzzed session is not left busy: its last generation (maybe hung up on) ends, and it generates.
      let status = 409;
      for (let tries = 0; status === 409 && tries < 50; tries++) {
        if (tries) await new Promise((resolve) => setTimeout(resolve, 100));
        const g = await postJson(
          `${base}/v1/sessions/${session}/generate`,
          { max_tokens: 1, stream: false },
          auth,
        );
        status = g.status;
        await g.body?.cancel();
      }
      assert.equal(status, 200, `a generation on the fuzzed session after ${after}`);
    };
    const rng = prng(SEED);
    const failures: string[] = [];
    const started = performance.now();
    let slowest = 0, slowestLabel = "";
    const statuses = new Map<number, number>();
    const check = async (a: Attempt, label: string) => {
      try {
        const r = await send(base, a);
        if (r.ms > slowest) [slowest, slowestLabel] = [r.ms, label];
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const why = fault(a, r);
        if (why) failures.push(`${label}\n  -> ${why}: ${r.text.slice(0, 300)}`);
      } catch (err) {
        failures.push(
          `${label}\n  -> no answer: ${err instanceof Error ? `${err.name}: ${err.message}` : err}`,
        );
      }
    };
    for (let i = 0; i < CASES; i++) {
      const ctx = { session, idle, blob };
      // Mostly hostile requests; a third valid ones at the edges, some sent at once to one session.
      const made = rng.next() < 0.35 ? edgeRequest(rng, ctx) : hostileRequest(rng, ctx);
      const group = Array.isArray(made) ? made : [made];
      const label = `seed ${SEED}, case ${i}${group.length > 1 ? " (sent at once)" : ""}`;
      await Promise.all(
        group.map((a, j) => check(a, `${label}${group.length > 1 ? `.${j}` : ""}: ${describeAttempt(a)}`)),
      );
      if (exited) {
        failures.push(`${label}: the server exited: ${JSON.stringify(exited)}`);
        break;
      }
      if (i % 60 === 59) await healthy(`case ${i}`);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${CASES} cases (seed ${SEED}) in ${seconds.toFixed(1)} s; statuses ${
        JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))
      }; slowest ${slowest.toFixed(0)} ms, ${slowestLabel.slice(0, 300)}`,
    );
    assert.deepEqual(failures, [], `${failures.length} bad answers:\n${failures.join("\n")}`);
    await healthy("every case");
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
});

// What the fuzz found, pinned down in-process on the same model and store: each was a 500, an error
// event inside a 200 stream, or a 400 that named the wrong fault.
Deno.test("what the fuzz found: tiny temperatures and penalties, deep nesting, unclear 400s, bad ids, big schemas", async () => {
  const loaded = await loadModel(DEFAULT_MODEL_DIR); // its vocabulary takes the largest logit_bias
  const models = new Map([[loaded.id, loaded]]);
  const store = await openDenoKvStore(`${await Deno.makeTempDir()}/s.kv`);
  const sessions = new SessionService({ store, models, defaultModel: loaded.id });
  const served = { models, defaultModel: loaded.id, createdAt: 0, limits: DEFAULT_LIMITS, sessions };
  const app = createApp({ ...served, apiKeys: new Set() });
  const post = (body: unknown, path = "/v1/completions") =>
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const base = { prompt: [5, 6, 7], max_tokens: 8, ignore_eos: true, top_p: 0.9 };
  const greedy = await (await post({ ...base, temperature: 0 })).json();

  // A temperature of 5e-324 made every logit's weight overflow: the sampler picked no token (500).
  for (const temperature of [5e-324, 1e-300, 1e-6]) {
    const r = await post({ ...base, temperature, seed: 3 });
    assert.equal(r.status, 200, `temperature ${temperature}`);
    assert.equal((await r.json()).choices[0].text, greedy.choices[0].text, "sampled as greedy");
  }
  const id = (await (await post({ prompt: [5, 6] }, "/v1/sessions")).json()).id;
  const stream = await post(
    { temperature: 5e-324, top_p: 0.5, max_tokens: 4 },
    `/v1/sessions/${id}/generate`,
  );
  assert.doesNotMatch(await stream.text(), /^event: error$/m, "the session stream ends without an error");

  // A repetition penalty of 5e-324 divided logits into Infinity (500): the least taken is now 0.01.
  const tiny = await post({ ...base, temperature: 0.7, repetition_penalty: 5e-324 });
  assert.equal(tiny.status, 400);
  assert.equal((await tiny.json()).error.param, "repetition_penalty");
  const least = await post({ ...base, temperature: 0.7, repetition_penalty: 0.01 });
  assert.equal(least.status, 200);
  await least.body?.cancel();

  // A schema 2000 levels deep overflowed the compiler's stack (500); 3000 nested arrays anywhere
  // were called "not valid JSON". Both are now a 400 that says what is wrong.
  const deepSchema = '{"type":"array","items":'.repeat(2000) + '{"type":"string"}' + "}".repeat(2000);
  const format = `{"type":"json_schema","json_schema":{"name":"deep","schema":${deepSchema}}}`;
  const deep = [
    `{"prompt":[5],"max_tokens":2,"response_format":${format}}`,
    `{"prompt":[5],"max_tokens":2,"user":${"[".repeat(3000)}${"]".repeat(3000)}}`,
  ];
  for (const body of deep) {
    const r = await post(body);
    assert.equal(r.status, 400);
    assert.match((await r.json()).error.message, /nests deeper than 128/);
  }
  const nested64 = '{"type":"array","items":'.repeat(70) + "{}" + "}".repeat(70);
  const r = await post(
    `{"prompt":[5],"max_tokens":2,"response_format":${format.replace(deepSchema, nested64)}}`,
  );
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /JSON schema nests deeper than 64 levels/);

  // zod's "Invalid input" and "Invalid key in record" now say what the field takes.
  const unclear: [unknown, RegExp][] = [
    [{ prompt: {} }, /prompt must be a string or a non-empty array of token ids/],
    [{ prompt: "x", stop: 5 }, /stop must be a string or a list of up to 16 strings/],
    [{ prompt: "x", logit_bias: { abc: 1 } }, /logit_bias\.abc: logit_bias keys must be token ids/],
  ];
  for (const [body, message] of unclear) {
    const res = await post(body);
    assert.equal(res.status, 400);
    assert.match((await res.json()).error.message, message);
  }

  // With API keys, a stream token on a session path that is not percent-encoded UTF-8 threw
  // URIError from decodeURIComponent (500): now no token matches, and it is a 401.
  const keyed = createApp({ ...served, apiKeys: new Set(["k"]) });
  for (const segment of ["%ED%A0%80", "%", "%C0%AF"]) {
    const res = await keyed.request(`/v1/sessions/${segment}/stream?token=x`);
    assert.equal(res.status, 401, segment);
    assert.equal((await res.json()).error.code, "invalid_api_key");
  }
  assert.equal(decodeSegment("%E0%A4%A"), undefined, "the Workers' session host decodes its ids so too");

  // A session keeps its generation's request in one Deno KV value (64 KiB at most): a 90 KB schema
  // failed to store (500). response_format now takes 32 KiB, which fits with the longest stops
  // (16 of 256 lone surrogates) and the largest logit_bias (1024 tokens) beside it.
  const formatOf = (n: number) => ({
    type: "json_schema",
    json_schema: {
      name: "big",
      schema: {
        type: "object",
        properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, { type: "integer" }])),
      },
    },
  });
  const sized = (n: number) => new TextEncoder().encode(JSON.stringify(formatOf(n))).length;
  let fits = 1;
  while (sized(fits + 1) <= 32 * 1024) fits++;
  const huge = await post({ response_format: formatOf(3000), stream: false }, `/v1/sessions/${id}/generate`);
  assert.equal(huge.status, 400);
  assert.equal((await huge.json()).error.param, "response_format");
  const worst = await post({
    response_format: formatOf(fits),
    stop: Array(16).fill("\ud800".repeat(256)),
    logit_bias: Object.fromEntries(Array.from({ length: 1024 }, (_, i) => [String(i), -0.123456789])),
    max_tokens: 2,
    stream: false,
  }, `/v1/sessions/${id}/generate`);
  assert.equal(
    worst.status,
    200,
    `the largest request a session keeps: ${(await worst.text()).slice(0, 200)}`,
  );
  await sessions.drain();
  store.close();
});
