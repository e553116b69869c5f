// Hostile and unlucky requests through app.request() on a real Deno KV file: keys own their
// sessions, quotas answer 429 with Retry-After, ids and Last-Event-IDs of the wrong shape are
// 4xx, JSON routes want JSON, uploads are checked before they are read, internal faults are 500s.
import assert from "node:assert/strict";
import { type Principal, SessionService, type SessionServiceOptions } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS, type Limits } from "../routes/mod.ts";
import { openDenoKvStore } from "../store/mod.ts";

const loaded = await loadModel(new URL("./fixtures/rwkv7/tiny3", import.meta.url).pathname);
const models = new Map([[loaded.id, loaded]]);

async function makeApp(options: {
  keys?: string[];
  limits?: Partial<Limits>;
  service?: Partial<SessionServiceOptions>;
} = {}) {
  const store = await openDenoKvStore(`${await Deno.makeTempDir()}/s.kv`);
  const sessions = new SessionService({ store, models, defaultModel: loaded.id, ...options.service });
  const app = createApp({
    models,
    defaultModel: loaded.id,
    createdAt: 0,
    limits: { ...DEFAULT_LIMITS, maxPromptTokens: 200, maxTokens: 100, ...options.limits },
    sessions,
    apiKeys: new Set(options.keys ?? []),
  });
  const close = async () => {
    await sessions.drain();
    store.close();
  };
  return { app, sessions, store, close };
}

const as = (key?: string, headers: Record<string, string> = {}) =>
  key ? { ...headers, authorization: `Bearer ${key}` } : headers;
const json = (body: unknown, key?: string) => ({
  method: "POST",
  headers: as(key, { "content-type": "application/json" }),
  body: JSON.stringify(body),
});
const GEN = { max_tokens: 4, temperature: 0, stream: false };

Deno.test("with API keys a session belongs to the key that made it: every other key gets 404", async () => {
  const { app, close } = await makeApp({ keys: ["alpha", "beta"] });
  const res = await app.request("/v1/sessions", json({ prompt: [5, 6, 7] }, "alpha"));
  assert.equal(res.status, 201);
  const id = (await res.json()).id;
  const blob = new Uint8Array(
    await (await app.request(`/v1/sessions/${id}/state`, { headers: as("alpha") }))
      .arrayBuffer(),
  );
  const attempts: [string, string, RequestInit][] = [
    ["GET", `/v1/sessions/${id}`, {}],
    ["GET", `/v1/sessions/${id}/state`, {}],
    ["GET", `/v1/sessions/${id}/stream`, {}],
    ["POST", `/v1/sessions/${id}/fork`, {}],
    ["POST", `/v1/sessions/${id}/generate`, { body: JSON.stringify(GEN) }],
    ["PUT", `/v1/sessions/${id}/state`, { body: blob }],
    ["DELETE", `/v1/sessions/${id}`, {}],
  ];
  for (const [method, path, init] of attempts) {
    const type = init.body instanceof Uint8Array ? "application/octet-stream" : "application/json";
    const r = await app.request(path, { method, ...init, headers: as("beta", { "content-type": type }) });
    assert.equal(r.status, 404, `${method} ${path} with another key`);
    assert.equal((await r.json()).error.code, "session_not_found");
  }
  const chat = await app.request(
    "/v1/chat/completions",
    json({ session_id: id, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }, "beta"),
  );
  assert.equal(chat.status, 404, "chat with another key's session");
  await chat.body?.cancel();
  // The owner still has it, untouched; the scheme is case-insensitive (RFC 7235).
  const mine = await app.request(`/v1/sessions/${id}`, { headers: { authorization: `bEaReR alpha` } });
  assert.equal(mine.status, 200);
  assert.equal((await mine.json()).tokens, 3);
  const gen = await app.request(`/v1/sessions/${id}/generate`, json(GEN, "alpha"));
  assert.equal(gen.status, 200);
  assert.equal((await gen.json()).token_ids.length, 4);
  await close();
});

Deno.test("PUT state on an unknown id is 404; POST /v1/sessions with a blob imports it as a new session", async () => {
  const { app, close } = await makeApp({ keys: ["alpha", "beta"] });
  const id = (await (await app.request("/v1/sessions", json({ prompt: [5, 6, 7] }, "alpha"))).json()).id;
  const blob = new Uint8Array(
    await (await app.request(`/v1/sessions/${id}/state`, { headers: as("alpha") }))
      .arrayBuffer(),
  );
  const put = (sid: string) =>
    app.request(`/v1/sessions/${sid}/state`, {
      method: "PUT",
      headers: as("alpha", { "content-type": "application/octet-stream" }),
      body: blob,
    });
  assert.equal((await put("0123456789abcdef0123456789abcdef")).status, 404, "an id nobody created");
  assert.equal((await put(id)).status, 200, "the owner replaces its own session's state");
  const imported = await app.request("/v1/sessions", {
    method: "POST",
    headers: as("beta", { "content-type": "application/octet-stream" }),
    body: blob,
  });
  assert.equal(imported.status, 201);
  const copy = await imported.json();
  assert.notEqual(copy.id, id);
  assert.equal(copy.tokens, 3);
  const x = await (await app.request(`/v1/sessions/${id}/generate`, json(GEN, "alpha"))).json();
  const y = await (await app.request(`/v1/sessions/${copy.id}/generate`, json(GEN, "beta"))).json();
  assert.deepEqual(y.token_ids, x.token_ids, "the import continues as the original does");
  assert.equal((await app.request(`/v1/sessions/${copy.id}`, { headers: as("alpha") })).status, 404);
  await close();
});

Deno.test("GET / lists the models only to a caller with a key when the server has keys", async () => {
  const open = await makeApp();
  assert.deepEqual((await (await open.app.request("/")).json()).models, [loaded.id]);
  await open.close();
  const keyed = await makeApp({ keys: ["alpha"] });
  const anonymous = await (await keyed.app.request("/")).json();
  assert.equal(anonymous.status, "ok");
  assert.equal(anonymous.models, undefined);
  assert.deepEqual((await (await keyed.app.request("/", { headers: as("alpha") })).json()).models, [
    loaded.id,
  ]);
  await keyed.close();
});

Deno.test("quotas: live sessions and stored bytes per key answer 429 with Retry-After", async () => {
  const { app, close } = await makeApp({
    keys: ["alpha", "beta"],
    service: { quota: { sessions: 3, bytes: 0 } },
  });
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await app.request("/v1/sessions", json({ prompt: [5] }, "alpha"));
    assert.equal(r.status, 201);
    ids.push((await r.json()).id);
  }
  const over = await app.request("/v1/sessions", json({ prompt: [5] }, "alpha"));
  assert.equal(over.status, 429);
  assert.ok(Number(over.headers.get("retry-after")) > 0);
  assert.equal((await over.json()).error.code, "quota_exceeded");
  const fork = await app.request(`/v1/sessions/${ids[0]}/fork`, { method: "POST", headers: as("alpha") });
  assert.equal(fork.status, 429, "a fork is a session too");
  await fork.body?.cancel();
  assert.equal((await app.request("/v1/sessions", json({ prompt: [5] }, "beta"))).status, 201, "per key");
  assert.equal(
    (await app.request(`/v1/sessions/${ids[0]}`, { method: "DELETE", headers: as("alpha") })).status,
    200,
  );
  assert.equal(
    (await app.request("/v1/sessions", json({ prompt: [5] }, "alpha"))).status,
    201,
    "freed by delete",
  );
  await close();

  const bytes = await makeApp({
    service: { quota: { sessions: 0, bytes: 3 * loaded.model.info.stateSize * 4 } },
  });
  let status = 201;
  let made = 0;
  while (status === 201 && made < 10) {
    const r = await bytes.app.request("/v1/sessions", json({ prompt: [5] }));
    status = r.status;
    if (status === 201) made++;
    await r.body?.cancel();
  }
  assert.equal(status, 429, "the stored-bytes quota stops a client without keys too");
  assert.ok(made >= 1 && made < 3, `${made} sessions fit under 3 states' bytes (each blob has a header)`);
  await bytes.close();
});

Deno.test("requests per minute per key: 429 with Retry-After once the burst is spent", async () => {
  const { app, close } = await makeApp({ keys: ["alpha", "beta"], limits: { requestsPerMinute: 5 } });
  for (let i = 0; i < 5; i++) {
    assert.equal((await app.request("/v1/models", { headers: as("alpha") })).status, 200);
  }
  const limited = await app.request("/v1/models", { headers: as("alpha") });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "12", "one request back every 60/5 s");
  assert.equal((await limited.json()).error.code, "rate_limit_exceeded");
  assert.equal(
    (await app.request("/v1/models", { headers: as("beta") })).status,
    200,
    "other keys unaffected",
  );
  await close();
});

Deno.test("session ids not of the issued shape are 404 on every session route, even 3 000 characters long", async () => {
  const { app, close } = await makeApp();
  for (const id of ["x".repeat(3000), "ABCDEF0123456789ABCDEF0123456789", "0123", "../../etc"]) {
    const path = `/v1/sessions/${encodeURIComponent(id)}`;
    const routes: [string, string, RequestInit][] = [
      ["GET", path, {}],
      ["GET", `${path}/state`, {}],
      ["GET", `${path}/stream`, {}],
      ["POST", `${path}/fork`, {}],
      ["POST", `${path}/generate`, { headers: { "content-type": "application/json" }, body: "{}" }],
      ["PUT", `${path}/state`, { headers: { "content-type": "application/octet-stream" }, body: "x" }],
      ["DELETE", path, {}],
    ];
    for (const [method, p, init] of routes) {
      const r = await app.request(p, { method, ...init });
      assert.equal(r.status, 404, `${method} ${p.slice(0, 60)}`);
      assert.ok((await r.text()).length < 1000, "the answer does not echo the whole id");
    }
  }
  await close();
});

Deno.test("Last-Event-ID must be a decimal token position in range: 400 otherwise", async () => {
  const { app, close } = await makeApp();
  const id = (await (await app.request("/v1/sessions", json({ prompt: [5, 6] }))).json()).id;
  await (await app.request(`/v1/sessions/${id}/generate`, json(GEN))).json();
  for (
    const bad of ["1e308", "99999999999999999999", "0x10", "1.5", "-2", "+3", "00", "3a", "281474976710657"]
  ) {
    const r = await app.request(`/v1/sessions/${id}/stream`, { headers: { "last-event-id": bad } });
    assert.equal(r.status, 400, `Last-Event-ID ${JSON.stringify(bad)}`);
    await r.body?.cancel();
  }
  for (const good of ["-1", "0", "3", "281474976710656"]) {
    const r = await app.request(`/v1/sessions/${id}/stream`, { headers: { "last-event-id": good } });
    assert.equal(r.status, 200, `Last-Event-ID ${good}`);
    await r.body?.cancel();
  }
  await close();
});

Deno.test("JSON routes answer 415 to a body that is not declared application/json, and run nothing", async () => {
  const { app, close } = await makeApp();
  const id = (await (await app.request("/v1/sessions", json({ prompt: [5, 6] }))).json()).id;
  const posts: [string, unknown][] = [
    ["/v1/completions", { prompt: "x", max_tokens: 2 }],
    ["/v1/chat/completions", { messages: [{ role: "user", content: "x" }], max_tokens: 2 }],
    ["/v1/sessions", { prompt: "x" }],
    [`/v1/sessions/${id}/generate`, GEN],
  ];
  for (const [path, body] of posts) {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", undefined]) {
      const headers: Record<string, string> = type ? { "content-type": type } : {};
      const r = await app.request(path, { method: "POST", headers, body: JSON.stringify(body) });
      assert.equal(r.status, 415, `${path} as ${type}`);
      await r.body?.cancel();
    }
  }
  const info = await (await app.request(`/v1/sessions/${id}`)).json();
  assert.equal(info.tokens, 2, "the text/plain generate did not run");
  const ok = await app.request("/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify({ prompt: "x", max_tokens: 2 }),
  });
  assert.equal(ok.status, 200, "parameters after the media type are fine");
  await ok.body?.cancel();
  await close();
});

Deno.test("a state upload is refused on its size and header before its body is read", async () => {
  const { app, close } = await makeApp();
  const id = (await (await app.request("/v1/sessions", json({ prompt: [5, 6] }))).json()).id;
  const blob = new Uint8Array(await (await app.request(`/v1/sessions/${id}/state`)).arrayBuffer());
  const put = (body: BodyInit, headers: Record<string, string> = {}) =>
    app.request(`/v1/sessions/${id}/state`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream", ...headers },
      body,
    });
  const declared = await put(blob, { "content-length": String(600 * 1024 * 1024) });
  assert.equal(declared.status, 413, "a declared size past the largest blob of this model");
  // A valid start whose header length promises 500 MB, then a body that never ends.
  const hostile = blob.slice(0, 16);
  new DataView(hostile.buffer).setUint32(12, 500 * 1024 * 1024, true);
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(pulled++ === 0 ? hostile : new Uint8Array(65536));
    },
  });
  const refused = await put(endless);
  assert.equal(refused.status, 400);
  assert.match((await refused.json()).error.message, /header/i);
  assert.ok(pulled < 64, `refused after ${pulled} chunks, not after reading 500 MB`);
  const good = await put(blob);
  assert.equal(good.status, 200, "the real blob still goes in");
  await good.body?.cancel();
  await close();
});

Deno.test("an internal failure is a 500 with a request id, never the client's fault", async () => {
  const { app, store } = await makeApp();
  const id = (await (await app.request("/v1/sessions", json({ prompt: [5, 6] }))).json()).id;
  store.close(); // the store fails under the server: every session request now hits an internal error
  const original = console.error;
  const logged: unknown[][] = [];
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const r = await app.request(`/v1/sessions/${id}`);
    assert.equal(r.status, 500);
    const requestId = r.headers.get("x-request-id");
    assert.match(requestId ?? "", /^[0-9a-f-]{36}$/);
    const body = await r.json();
    assert.equal(body.error.type, "server_error");
    assert.ok(body.error.message.includes(requestId!), "the answer names the request id");
    assert.ok(logged.some((args) => String(args[0]).includes(requestId!)), "the log names it too");
  } finally {
    console.error = original;
  }
});

Deno.test("engine-level client mistakes stay 400 and a RangeError from inside is a 500", async () => {
  const { app, sessions, close } = await makeApp();
  const empty = (await (await app.request("/v1/sessions", json({}))).json()).id;
  const r = await app.request(`/v1/sessions/${empty}/generate`, json(GEN));
  assert.equal(r.status, 400, "generate on an empty session without a prompt");
  assert.equal((await r.json()).error.param, "prompt");
  // A kernel-level RangeError (the backend out of memory, a bad internal shape) is the server's fault.
  const who: Principal = { id: "test", exclusive: false };
  const model = sessions.model();
  const step = model.model.step;
  (model.model as { step: typeof step }).step = () =>
    Promise.reject(new RangeError("WASM backend memory exhausted: 1024 more bytes needed"));
  const original = console.error;
  console.error = () => {};
  try {
    const c = await app.request("/v1/completions", json({ prompt: "abc", max_tokens: 2 }));
    assert.equal(c.status, 500);
    assert.doesNotMatch((await c.json()).error.message, /WASM/, "internal detail is not sent");
    await assert.rejects(sessions.create(undefined, [5], who), RangeError);
  } finally {
    console.error = original;
    (model.model as { step: typeof step }).step = step;
  }
  await close();
});
