// The session API through app.request(), on a real Deno KV file, for every model family: create,
// generate (SSE and JSON), replay with Last-Event-ID, fork, export/import, one generation at a
// time, chat with a session, and 4xx for bad input.
import assert from "node:assert/strict";
import { SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import { openDenoKvStore } from "../store/mod.ts";

const FIX = new URL("./fixtures/", import.meta.url).pathname;

for (const fixture of ["rwkv7/tiny3", "rwkv4/tiny", "mamba/tiny", "mamba2/tiny", "retnet/tiny"]) {
  const loaded = await loadModel(FIX + fixture);
  const models = new Map([[loaded.id, loaded]]);
  const family = loaded.family;

  const makeApp = async (options: { apiKeys?: string[]; path?: string } = {}) => {
    const store = await openDenoKvStore(options.path ?? `${await Deno.makeTempDir()}/s.kv`);
    const sessions = new SessionService({ store, models, defaultModel: loaded.id, checkpointEvery: 4 });
    const hono = createApp({
      models,
      defaultModel: loaded.id,
      createdAt: 0,
      limits: { ...DEFAULT_LIMITS, maxPromptTokens: 200, maxTokens: 100 },
      sessions,
      apiKeys: new Set(options.apiKeys ?? []),
    });
    const app = {
      request: async (path: string, init?: RequestInit): Promise<Response> => await hono.request(path, init),
    };
    const close = async () => {
      await sessions.drain();
      store.close();
    };
    return { app, sessions, store, close };
  };

  const json = (body: unknown) => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

  interface Sse {
    event: string;
    id?: string;
    data: string;
  }

  const readSse = async (res: Response): Promise<Sse[]> => {
    const text = await res.text();
    return text.split("\n\n").filter((b) => b.trim()).map((block) => {
      const e: Sse = { event: "message", data: "" };
      for (const line of block.split("\n")) {
        const at = line.indexOf(": ");
        const [k, v] = [line.slice(0, at), line.slice(at + 2)];
        if (k === "event") e.event = v;
        else if (k === "id") e.id = v;
        else if (k === "data") e.data = v;
      }
      return e;
    });
  };

  const GEN = { max_tokens: 12, temperature: 0.9, seed: 42, ignore_eos: true };

  Deno.test(`${family}: a session is created with a prefilled prompt and reported`, async () => {
    const { app, close } = await makeApp();
    const res = await app.request("/v1/sessions", json({ prompt: [5, 6, 7, 8] }));
    assert.equal(res.status, 201);
    const s = await res.json();
    assert.match(s.id, /^[0-9a-f]{32}$/);
    assert.equal(s.tokens, 4);
    assert.equal(s.model, loaded.id);
    const info = await (await app.request(`/v1/sessions/${s.id}`)).json();
    assert.equal(info.tokens, 4);
    assert.equal(info.generating, false);
    assert.ok(info.state_bytes > 4 * loaded.model.info.stateSize);
    await close();
  });

  Deno.test(`${family}: generate streams token events with positions, then done; JSON mode gives the same text`, async () => {
    const { app, close } = await makeApp();
    const a = (await (await app.request("/v1/sessions", json({ prompt: [5, 6, 7, 8] }))).json()).id;
    const b = (await (await app.request("/v1/sessions", json({ prompt: [5, 6, 7, 8] }))).json()).id;
    const res = await app.request(`/v1/sessions/${a}/generate`, json(GEN));
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const events = await readSse(res);
    const tokens = events.filter((e) => e.event === "token");
    assert.equal(tokens.length, 12);
    assert.deepEqual(tokens.map((e) => Number(e.id)), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    const done = JSON.parse(events.at(-1)!.data);
    assert.equal(events.at(-1)!.event, "done");
    assert.deepEqual(done.usage, { prompt_tokens: 0, completion_tokens: 12, total_tokens: 12 });
    const plain = await (await app.request(`/v1/sessions/${b}/generate`, json({ ...GEN, stream: false })))
      .json();
    assert.deepEqual(plain.token_ids, tokens.map((e) => JSON.parse(e.data).token_id));
    assert.equal((await (await app.request(`/v1/sessions/${a}`)).json()).tokens, 16);
    await close();
  });

  Deno.test(`${family}: GET stream replays after Last-Event-ID, or from the generation's start`, async () => {
    const { app, sessions, close } = await makeApp();
    const id = (await (await app.request("/v1/sessions", json({ prompt: "hello" }))).json()).id;
    const all = await readSse(await app.request(`/v1/sessions/${id}/generate`, json(GEN)));
    await sessions.drain();
    const replay = await readSse(await app.request(`/v1/sessions/${id}/stream`));
    assert.deepEqual(replay, all);
    const after = await readSse(
      await app.request(`/v1/sessions/${id}/stream`, { headers: { "last-event-id": all[5].id! } }),
    );
    assert.deepEqual(after, all.slice(6));
    await close();
  });

  Deno.test(`${family}: a fork shares the state and then goes its own way`, async () => {
    const { app, close } = await makeApp();
    const id = (await (await app.request("/v1/sessions", json({ prompt: [9, 10, 11] }))).json()).id;
    const forkRes = await app.request(`/v1/sessions/${id}/fork`, { method: "POST" });
    assert.equal(forkRes.status, 201);
    const fork = (await forkRes.json()).id;
    assert.notEqual(fork, id);
    const gen = (s: string, seed: number) =>
      app.request(`/v1/sessions/${s}/generate`, json({ ...GEN, seed, stream: false })).then((r) => r.json());
    const x = await gen(id, 1);
    const y = await gen(fork, 1);
    assert.deepEqual(x.token_ids, y.token_ids, "same state and seed: same tokens");
    const x2 = await gen(id, 2);
    const y2 = await gen(fork, 3);
    assert.notDeepEqual(x2.token_ids, y2.token_ids);
    assert.equal((await (await app.request(`/v1/sessions/${id}`)).json()).tokens, 27);
    assert.equal((await (await app.request(`/v1/sessions/${fork}`)).json()).tokens, 27);
    await close();
  });

  Deno.test(`${family}: exported state imported into a server with another store continues with the same tokens`, async () => {
    const one = await makeApp();
    const two = await makeApp();
    const id = (await (await one.app.request("/v1/sessions", json({ prompt: [1, 2, 3, 4, 5] }))).json()).id;
    await (await one.app.request(`/v1/sessions/${id}/generate`, json({ ...GEN, stream: false }))).json();
    const blob = new Uint8Array(await (await one.app.request(`/v1/sessions/${id}/state`)).arrayBuffer());
    const imported = await two.app.request("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: blob,
    });
    assert.equal(imported.status, 201, await imported.clone().text());
    const copy = (await imported.json()).id;
    const next = { ...GEN, seed: 9, stream: false };
    const a = await (await one.app.request(`/v1/sessions/${id}/generate`, json(next))).json();
    const b = await (await two.app.request(`/v1/sessions/${copy}/generate`, json(next))).json();
    assert.deepEqual(b.token_ids, a.token_ids);
    await one.close();
    await two.close();
  });

  Deno.test(`${family}: two concurrent generates on one session: exactly one 409`, async () => {
    const { app, sessions, close } = await makeApp();
    const id = (await (await app.request("/v1/sessions", json({ prompt: [1, 2] }))).json()).id;
    const req = () => app.request(`/v1/sessions/${id}/generate`, json({ ...GEN, max_tokens: 60 }));
    const [r1, r2] = await Promise.all([req(), req()]);
    const statuses = [r1.status, r2.status].sort();
    assert.deepEqual(statuses, [200, 409]);
    const loser = r1.status === 409 ? r1 : r2;
    assert.match((await loser.json()).error.message, /is generating/);
    await (r1.status === 200 ? r1 : r2).text();
    await sessions.drain();
    assert.equal((await req()).status, 200, "free again once done");
    await sessions.drain();
    await close();
  });

  Deno.test(`${family}: chat completions carry a conversation in a session`, async () => {
    const { app, sessions, close } = await makeApp();
    const id = (await (await app.request("/v1/sessions", json({}))).json()).id;
    const ask = (content: string) =>
      app.request(
        "/v1/chat/completions",
        json({ session_id: id, messages: [{ role: "user", content }], max_tokens: 8, seed: 1 }),
      );
    const first = await (await ask("Hi")).json();
    assert.equal(first.object, "chat.completion");
    assert.equal(first.choices[0].message.role, "assistant");
    const t1 = (await (await app.request(`/v1/sessions/${id}`)).json()).tokens;
    const second = await (await ask("More")).json();
    assert.equal(second.session_id, id);
    const t2 = (await (await app.request(`/v1/sessions/${id}`)).json()).tokens;
    assert.ok(t2 > t1 && t1 > 0);
    const stream = await readSse(
      await app.request(
        "/v1/chat/completions",
        json({ messages: [{ role: "user", content: "x" }], stream: true }),
      ),
    );
    assert.equal(stream.at(-1)!.data, "[DONE]");
    assert.equal(JSON.parse(stream[0].data).choices[0].delta.role, "assistant");
    await sessions.drain();
    await close();
  });

  Deno.test(`${family}: bad session requests get 4xx and the server keeps serving`, async () => {
    const { app, close } = await makeApp({ apiKeys: ["k1"] });
    const auth = { authorization: "Bearer k1", "content-type": "application/json" };
    assert.equal((await app.request("/v1/sessions", { method: "POST", body: "{}" })).status, 401);
    const post = (path: string, body: string) => app.request(path, { method: "POST", headers: auth, body });
    const id = (await (await post("/v1/sessions", JSON.stringify({ prompt: [1] }))).json()).id;
    const cases: [Promise<Response>, number, RegExp][] = [
      [post("/v1/sessions", "{oops"), 400, /not valid JSON/],
      [post("/v1/sessions", JSON.stringify({ prompt: 3 })), 400, /prompt/],
      [
        post("/v1/sessions", JSON.stringify({ prompt: "a", messages: [{ role: "user", content: "b" }] })),
        400,
        /not both/,
      ],
      [post("/v1/sessions", JSON.stringify({ prompt: [1, 99999] })), 400, /outside the vocabulary/],
      [post("/v1/sessions", JSON.stringify({ prompt: "x".repeat(1000) })), 413, /at most 200/],
      [post("/v1/sessions", JSON.stringify({ model: "nope" })), 404, /not served/],
      [post(`/v1/sessions/${"0".repeat(32)}/generate`, "{}"), 404, /does not exist/],
      [post(`/v1/sessions/${id}/generate`, JSON.stringify({ max_tokens: 1000 })), 400, /max_tokens/],
      [post(`/v1/sessions/${id}/generate`, JSON.stringify({ temperature: "hot" })), 400, /temperature/],
      [
        app.request(`/v1/sessions/${id}/stream`, { headers: { ...auth, "last-event-id": "abc" } }),
        400,
        /Last-Event-ID/,
      ],
      [app.request(`/v1/sessions/nope`, { headers: auth }), 404, /does not exist/],
      [app.request(`/v1/sessions/nope`, { method: "DELETE", headers: auth }), 404, /does not exist/],
      [
        app.request(`/v1/sessions/${id}/state`, {
          method: "PUT",
          headers: { ...auth, "content-type": "application/octet-stream" },
          body: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]),
        }),
        400,
        /magic bytes/,
      ],
      [
        app.request(`/v1/sessions/${id}/state`, { method: "PUT", headers: auth, body: "{}" }),
        415,
        /octet-stream/,
      ],
    ];
    for (const [pending, status, pattern] of cases) {
      const res = await pending;
      const body = await res.json();
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(body.error.message, pattern);
    }
    const ok = await post(`/v1/sessions/${id}/generate`, JSON.stringify({ max_tokens: 3, stream: false }));
    assert.equal(ok.status, 200);
    assert.equal((await app.request(`/v1/sessions/${id}`, { method: "DELETE", headers: auth })).status, 200);
    assert.equal((await app.request(`/v1/sessions/${id}`, { headers: auth })).status, 404);
    await close();
  });
}
