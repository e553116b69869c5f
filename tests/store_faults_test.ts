// A store that fails under a running generation (disk full, a locked database, a hosted-KV hiccup):
// the process must not die of it, the stream ends with event: error, and the session stays at its
// last checkpoint, resumable. Faults are injected into a real MemoryStore at the calls named.
import assert from "node:assert/strict";
import { SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import { MemoryStore, type SessionMeta, type StoredEvent } from "../store/mod.ts";

const loaded = await loadModel(new URL("./fixtures/rwkv7/tiny3", import.meta.url).pathname);
const models = new Map([[loaded.id, loaded]]);

/** A MemoryStore whose releaseLease or publish throws while `failing` names it. */
class FaultyStore extends MemoryStore {
  failing = new Set<"releaseLease" | "publish">();
  override releaseLease(id: string, owner: string): Promise<void> {
    if (this.failing.has("releaseLease")) return Promise.reject(new TypeError("database is full"));
    return super.releaseLease(id, owner);
  }
  override publish(meta: SessionMeta, expected: string | undefined, events?: readonly StoredEvent[]) {
    if (this.failing.has("publish")) return Promise.reject(new TypeError("database is full"));
    return super.publish(meta, expected, events);
  }
}

function makeApp() {
  const store = new FaultyStore();
  const sessions = new SessionService({
    store,
    models,
    defaultModel: loaded.id,
    checkpointEvery: 4,
    leaseMs: 200,
  });
  const app = createApp({
    models,
    defaultModel: loaded.id,
    createdAt: 0,
    limits: DEFAULT_LIMITS,
    sessions,
    apiKeys: new Set(),
  });
  return { app, store, sessions };
}

const json = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** Runs `fn` with console.error silenced, returning what it logged. */
async function quietly(fn: () => Promise<void>): Promise<unknown[][]> {
  const original = console.error;
  const logged: unknown[][] = [];
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return logged;
}

Deno.test("a store error releasing the lease after a generation is logged, not an unhandled rejection", async () => {
  const { app, store, sessions } = makeApp();
  const id = (await (await app.request("/v1/sessions", json({ prompt: [5, 6] }))).json()).id;
  store.failing.add("releaseLease");
  const logged = await quietly(async () => {
    const res = await app.request(`/v1/sessions/${id}/generate`, json({ max_tokens: 6, stream: false }));
    assert.equal(
      res.status,
      200,
      `the generation itself completed and was saved: ${await res.clone().text()}`,
    );
    assert.equal((await res.json()).token_ids.length, 6);
    await sessions.drain(); // an unhandled rejection here would fail this test
  });
  assert.ok(logged.some((args) => /releasing the lease/.test(String(args[0]))), "the failure is logged");
  store.failing.clear();
  // The unreleased lease expires (leaseMs 200); then the session takes generations again.
  const until = Date.now() + 5000;
  while ((await (await app.request(`/v1/sessions/${id}`)).json()).generating && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const next = await app.request(`/v1/sessions/${id}/generate`, json({ max_tokens: 2, stream: false }));
  assert.equal(
    next.status,
    200,
    `the session is usable once the lease expires: ${await next.clone().text()}`,
  );
  await next.body?.cancel();
  await sessions.drain();
});

Deno.test("a checkpoint that fails mid-generation ends the stream with event: error; the session resumes from its last checkpoint", async () => {
  const { app, store, sessions } = makeApp();
  const id = (await (await app.request("/v1/sessions", json({ prompt: [5, 6] }))).json()).id;
  const res = await app.request(
    `/v1/sessions/${id}/generate`,
    json({ max_tokens: 40, seed: 3, ignore_eos: true }),
  );
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("id: 9\n")) text += (await reader.read()).value ?? ""; // past the first checkpoints
  store.failing.add("publish");
  const logged = await quietly(async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await sessions.drain();
  });
  assert.match(text, /event: error\ndata: \{"message":"database is full"\}/);
  assert.ok(logged.length > 0, "the failure is logged");
  store.failing.clear();
  const info = await (await app.request(`/v1/sessions/${id}`)).json();
  assert.ok(
    info.tokens >= 2 + 8 && info.tokens < 2 + 40,
    `the session holds its last checkpoint (${info.tokens})`,
  );
  assert.equal(info.generating, false, "the lease was released");
  // The next follower takes the generation over from that checkpoint and finishes it.
  const rest = await (await app.request(`/v1/sessions/${id}/stream`, { headers: { "last-event-id": "9" } }))
    .text();
  assert.match(rest, /event: done/);
  assert.match(rest, /^event: token\ndata: .*\nid: 10\n/);
  await sessions.drain();
  assert.equal((await (await app.request(`/v1/sessions/${id}`)).json()).tokens, 2 + 40);
});
