// POST /v1/sessions/{id}/cancel on the default model, in process: a running generation ends before
// its next token with a done event (finish_reason "cancelled"), the session keeps exactly the tokens
// streamed (a prefix of the uninterrupted seeded run) and is free for the next request.
import assert from "node:assert/strict";
import { SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import { MemoryStore } from "../store/mod.ts";
import { readEvents } from "./helpers/sse.ts";

const loaded = await loadModel(new URL("../assets/rwkv7-kjv-4m", import.meta.url).pathname);
const models = new Map([[loaded.id, loaded]]);

const json = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

Deno.test("cancel ends a session's generation at a token, keeps what was streamed, and frees the session", async () => {
  const sessions = new SessionService({ store: new MemoryStore(), models, defaultModel: loaded.id });
  const app = createApp({
    models,
    defaultModel: loaded.id,
    createdAt: 0,
    limits: DEFAULT_LIMITS,
    sessions,
    apiKeys: new Set(),
  });
  const sampling = { temperature: 0.9, seed: 4 };
  const create = async () =>
    (await (await app.request("/v1/sessions", json({ prompt: "And God said" }))).json()).id;
  const id = await create();
  assert.deepEqual(await (await app.request(`/v1/sessions/${id}/cancel`, { method: "POST" })).json(), {
    id,
    object: "session.cancel",
    cancelled: false,
  });

  const res = await app.request(`/v1/sessions/${id}/generate`, json({ max_tokens: 4000, ...sampling }));
  const reader = res.body!.getReader();
  let text = "";
  const decoder = new TextDecoder();
  while (!text.includes("event: token")) {
    text += decoder.decode((await reader.read()).value!, { stream: true });
  }
  const cancel = await app.request(`/v1/sessions/${id}/cancel`, { method: "POST" });
  assert.equal((await cancel.json()).cancelled, true);
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value);
  const events = await readEvents(new Response(text));
  const done = events.at(-1)!;
  assert.equal(done.event, "done");
  assert.equal(done.data.finish_reason, "cancelled");
  const tokens = events.filter((e) => e.event === "token");
  assert.ok(tokens.length >= 1 && tokens.length < 4000, `${tokens.length} tokens before the cancel`);
  assert.equal((done.data.usage as { completion_tokens: number }).completion_tokens, tokens.length);

  const info = await (await app.request(`/v1/sessions/${id}`)).json();
  assert.equal(info.generating, false);
  const other = await create();
  const whole = await (await app.request(
    `/v1/sessions/${other}/generate`,
    json({ max_tokens: tokens.length + 5, stream: false, ...sampling }),
  )).json();
  const streamed = tokens.map((e) => e.data.text).join("") + (done.data.text ?? "");
  assert.ok(whole.text.startsWith(streamed), "what was streamed is a prefix of the uninterrupted run");
  const held = (await (await app.request(`/v1/sessions/${other}`)).json()).tokens -
    whole.usage.completion_tokens;
  assert.equal(info.tokens, held + tokens.length, "the session holds the prompt and the streamed tokens");

  const next = await app.request(`/v1/sessions/${id}/generate`, json({ max_tokens: 3, stream: false }));
  assert.equal(next.status, 200, "the session is free again");
  await sessions.drain();
});
