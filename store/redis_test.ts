// What the Redis store adds beyond the contract suite, against a real redis-server: Redis expiry,
// two clients (two instances) sharing one Redis, reconnecting after a dropped connection, and the
// live feed over Redis Streams.
import assert from "node:assert/strict";
import { openRedisStore, type RedisStore } from "./redis.ts";
import type { SessionMeta } from "./types.ts";
import { redisMissing, startRedis } from "../tests/helpers/redis_server.ts";
import { parseRedisUrl } from "./redis/connection.ts";

const redis = redisMissing ? undefined : await startRedis();
globalThis.addEventListener("unload", () => void redis?.stop());
let prefixes = 0;
const open = (prefix = `r${++prefixes}:`, ttlMs?: number) => openRedisStore(redis!.url, { prefix, ttlMs });
const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: `redis store: ${name}`, ignore: redis === undefined, fn });
if (!redis) console.warn(`redis store tests skipped: ${redisMissing}`);

function meta(id: string, blob: string, extra: Partial<SessionMeta> = {}): SessionMeta {
  const now = Date.now();
  return {
    id,
    model: "m",
    fingerprint: "f",
    tokens: 1,
    stateBytes: 1,
    createdAt: now,
    updatedAt: now,
    blob,
    ...extra,
  };
}

test("every byte value survives, in blobs cut anywhere (CR LF, NUL, invalid UTF-8)", async () => {
  const store = await open();
  for (const n of [0, 1, 2, 255, 256, 4097, 65_537]) {
    const blob = Uint8Array.from(
      { length: n },
      (_, i) => [13, 10, 0, 0xff, 0xc3, 0x28, 36, 42][i % 8] ^ (i >> 3),
    );
    assert.deepEqual(await store.readBlob(await store.putBlob(blob)), blob, `${n} bytes`);
  }
  store.close();
});

test("sessions expire with Redis's own expiry; sweep then collects their blob", async () => {
  const store = await open(undefined, 300);
  const b = await store.putBlob(new Uint8Array([1, 2, 3]));
  await store.publish(meta("s", b, { owner: "k" }), undefined);
  assert.ok(await store.get("s"));
  assert.deepEqual(await store.usage("k"), { sessions: 1, bytes: 1 });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(await store.get("s"), undefined);
  assert.equal(await store.client.call("EXISTS", `${store.prefix}s:s`), 0, "Redis deleted the key itself");
  assert.deepEqual(await store.usage("k"), { sessions: 0, bytes: 0 });
  assert.equal(await store.sweep(0), 1);
  assert.equal(await store.storedBlobs(), 0);
  store.close();
});

test("two instances on one Redis: one lease holder, one winner of a version race", async () => {
  const [a, b] = [await open("shared:"), await open("shared:")];
  assert.ok(await a.acquireLease("s", "gen-a", 10_000));
  assert.equal(await b.acquireLease("s", "gen-b", 10_000), false);
  assert.equal((await b.lease("s"))?.owner, "gen-a");
  await b.releaseLease("s", "gen-b"); // not the holder: no effect
  assert.equal((await a.lease("s"))?.owner, "gen-a");
  const blob = await a.putBlob(new Uint8Array([7]));
  const v = await a.publish(meta("s", blob), undefined);
  const results = await Promise.all(
    [a, b].map((s, i) => s.publish(meta("s", blob, { tokens: i + 2 }), v)),
  );
  assert.equal(results.filter((r) => r !== undefined).length, 1, "exactly one publish wins");
  a.close();
  b.close();
});

test("a dropped connection is replaced on the next call", async () => {
  const store = await open();
  await store.client.call("CLIENT", "SETNAME", "victim");
  const killer = await open();
  await killer.client.call("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal");
  // A call racing the drop may fail; the one after it runs on a new connection.
  assert.equal(await store.client.call("PING").catch(() => store.client.call("PING")), "PONG");
  assert.equal(await store.client.call("CLIENT", "GETNAME"), null, "a new connection (it has no name)");
  store.close();
  killer.close();
});

test("live feed: a subscriber gets every announced event in order, from the generation's first", async () => {
  const [a, b]: RedisStore[] = [await open("live:"), await open("live:")];
  const events = Array.from(
    { length: 50 },
    (_, i) => ({ position: i, event: "token" as const, data: `{"i":${i}}` }),
  );
  for (const e of events.slice(0, 10)) await a.live.announce("s", "g", e);
  const sub = b.live.subscribe("s", "g");
  const got = await sub.next(1000);
  assert.deepEqual(got, events.slice(0, 10), "the events before subscribing");
  const later = (async () => {
    const out = [];
    while (out.length < 40) out.push(...await sub.next(1000));
    return out;
  })();
  await Promise.all(events.slice(10).map((e) => a.live.announce("s", "g", e)));
  assert.deepEqual(await later, events.slice(10));
  assert.deepEqual(await sub.next(50), [], "nothing more: an empty batch after the wait");
  assert.deepEqual(await b.live.subscribe("s", "other").next(10), []);
  sub.close();
  a.close();
  b.close();
});

test("redis:// URLs name the host, port, database and password", () => {
  assert.deepEqual(parseRedisUrl("redis://:s%40cret@cache.internal:6380/2"), {
    hostname: "cache.internal",
    port: 6380,
    db: 2,
    username: undefined,
    password: "s@cret",
  });
  assert.deepEqual(parseRedisUrl("redis://localhost"), {
    hostname: "localhost",
    port: 6379,
    db: 0,
    username: undefined,
    password: undefined,
  });
  assert.throws(() => parseRedisUrl("http://x"), TypeError);
  return Promise.resolve();
});
