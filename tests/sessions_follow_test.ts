// A second client attaching to a running generation (GET .../stream, no Last-Event-ID) sees the same
// events as the client that started it, live; one attaching with Last-Event-ID gets the rest.
import assert from "node:assert/strict";
import { SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { createApp, DEFAULT_LIMITS } from "../routes/mod.ts";
import { openDenoKvStore } from "../store/mod.ts";

const loaded = await loadModel(new URL("./fixtures/rwkv7/tiny3", import.meta.url).pathname);
const models = new Map([[loaded.id, loaded]]);

Deno.test("followers attached mid-generation see exactly the generator's events", async () => {
  const store = await openDenoKvStore(`${await Deno.makeTempDir()}/s.kv`);
  const sessions = new SessionService({ store, models, defaultModel: loaded.id, checkpointEvery: 8 });
  const app = createApp({
    models,
    defaultModel: loaded.id,
    createdAt: 0,
    limits: { ...DEFAULT_LIMITS, maxTokens: 4096 },
    sessions,
    apiKeys: new Set(),
  });
  const post = async (path: string, body: unknown) =>
    await app.request(path, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
  const id = (await (await post("/v1/sessions", { prompt: [3, 4, 5] })).json()).id;
  const started = await post(`/v1/sessions/${id}/generate`, { max_tokens: 3000, seed: 8, ignore_eos: true });
  const [all, follower, late] = await Promise.all([
    started.text(),
    (async () => await (await app.request(`/v1/sessions/${id}/stream`)).text())(),
    (async () =>
      await (await app.request(`/v1/sessions/${id}/stream`, { headers: { "last-event-id": "2500" } }))
        .text())(),
  ]);
  const events = (text: string) => text.split("\n\n").filter((b) => b.trim());
  assert.equal(events(all).length, 3001);
  assert.deepEqual(events(follower), events(all));
  assert.deepEqual(
    events(late),
    events(all).filter((b) => {
      const id = b.match(/^id: (\d+)/m);
      return Number(id?.[1]) > 2500;
    }),
  );
  await sessions.drain();
  store.close();
});
