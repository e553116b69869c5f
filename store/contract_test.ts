// The StateStore promises, checked against every implementation with real storage
// (a real Deno KV file on disk).
import assert from "node:assert/strict";
import { MemoryStore, openDenoKvStore, type SessionMeta, type StateStore } from "./mod.ts";

const makers: [string, () => Promise<StateStore>][] = [
  ["memory", () => Promise.resolve(new MemoryStore())],
  ["deno kv", async () => openDenoKvStore(`${await Deno.makeTempDir()}/store.kv`)],
];

function meta(id: string, blob: string, tokens = 1): SessionMeta {
  const now = Date.now();
  return { id, model: "m", fingerprint: "f", tokens, stateBytes: 1, createdAt: now, updatedAt: now, blob };
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

for (const [name, make] of makers) {
  Deno.test(`${name} store: a multi-chunk blob round-trips (2.4 MB, as an RWKV-7 0.1B state)`, async () => {
    const store = await make();
    const blob = bytes(2_430_000, 7);
    const id = await store.putBlob(blob);
    assert.deepEqual(await store.readBlob(id), blob);
    store.close();
  });

  Deno.test(`${name} store: publish is compare-and-swap on the session's version`, async () => {
    const store = await make();
    const b1 = await store.putBlob(bytes(10, 1));
    const v1 = await store.publish(meta("s", b1), undefined);
    assert.ok(v1);
    assert.equal(await store.publish(meta("s", b1), undefined), undefined, "create twice must fail");
    const b2 = await store.putBlob(bytes(10, 2));
    const v2 = await store.publish(meta("s", b2, 2), v1);
    assert.ok(v2);
    assert.equal(await store.publish(meta("s", b2, 3), v1), undefined, "a stale version must fail");
    const got = await store.get("s");
    assert.equal(got?.meta.tokens, 2);
    assert.equal(got?.version, v2);
    assert.deepEqual(await store.readBlob(got!.meta.blob), bytes(10, 2));
    await assert.rejects(store.readBlob(b1), "the superseded blob is collected");
    store.close();
  });

  Deno.test(`${name} store: forks share a blob, which lives until its last user goes`, async () => {
    const store = await make();
    const b = await store.putBlob(bytes(100, 3));
    await store.publish(meta("a", b), undefined);
    await store.publish(meta("fork", b), undefined);
    assert.ok(await store.delete("a"));
    assert.deepEqual(await store.readBlob(b), bytes(100, 3), "the fork still uses it");
    const b2 = await store.putBlob(bytes(100, 4));
    await store.publish(meta("fork", b2), (await store.get("fork"))!.version);
    await assert.rejects(store.readBlob(b));
    assert.equal(await store.delete("a"), false);
    store.close();
  });

  Deno.test(`${name} store: events are published with the state and read back after a position`, async () => {
    const store = await make();
    const b = await store.putBlob(bytes(4, 0));
    const generation = {
      id: "g1",
      status: "running" as const,
      start: 3,
      request: {},
      checkpoint: 5,
      heldText: "",
    };
    const events = [3, 4].map((p) => ({ position: p, event: "token" as const, data: `{"p":${p}}` }));
    const v = await store.publish({ ...meta("s", b), generation }, undefined, events);
    await store.publish({ ...meta("s", b), generation }, v, [{ position: 5, event: "done", data: "{}" }]);
    assert.deepEqual((await store.readEvents("s", "g1")).map((e) => e.position), [3, 4, 5]);
    assert.deepEqual(await store.readEvents("s", "g1", 4), [{ position: 5, event: "done", data: "{}" }]);
    assert.deepEqual(await store.readEvents("s", "other"), []);
    store.close();
  });

  Deno.test(`${name} store: one lease holder at a time; an expired lease can be taken`, async () => {
    const store = await make();
    assert.ok(await store.acquireLease("s", "one", 10_000));
    assert.equal(await store.acquireLease("s", "two", 10_000), false);
    assert.ok(await store.acquireLease("s", "one", 10_000), "the holder renews");
    await store.releaseLease("s", "one");
    assert.ok(await store.acquireLease("s", "two", 50));
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(await store.lease("s"), undefined);
    assert.ok(await store.acquireLease("s", "three", 10_000), "an expired lease is free");
    assert.equal((await store.lease("s"))?.owner, "three");
    store.close();
  });
}

for (const [name, make] of makers) {
  Deno.test(`${name} store: sweep deletes blobs no session uses, and only those`, async () => {
    const store = await make();
    const used = await store.putBlob(bytes(10, 1));
    await store.publish(meta("s", used), undefined);
    const orphan = await store.putBlob(bytes(70_000, 2)); // written, never published (a crash)
    assert.equal(await store.sweep(60_000), 0, "younger than the grace period");
    assert.equal(await store.sweep(0), 1);
    await assert.rejects(store.readBlob(orphan));
    assert.deepEqual(await store.readBlob(used), bytes(10, 1));
    store.close();
  });
}

Deno.test("memory store: idle sessions expire after the TTL", async () => {
  let now = 1000;
  const store = new MemoryStore({ ttlMs: 100, now: () => now });
  const b = await store.putBlob(bytes(4, 0));
  await store.publish({ ...meta("s", b), updatedAt: now }, undefined);
  now += 50;
  assert.ok(await store.get("s"));
  now += 100;
  assert.equal(await store.get("s"), undefined);
  assert.equal(store.blobCount, 0);
});
