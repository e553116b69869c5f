// The StateStore promises (tests/helpers/store_contract.ts), checked against every implementation
// with real storage (a real Deno KV file on disk, a real redis-server started for this file).
import assert from "node:assert/strict";
import { DenoKvStore, MemoryStore, openDenoKvStore, type StateStore } from "./mod.ts";
import { openRedisStore, RedisStore } from "./redis.ts";
import { redisMissing, startRedis } from "../tests/helpers/redis_server.ts";
import { bytes, CONTRACT_CHECKS, meta } from "../tests/helpers/store_contract.ts";

const redis = redisMissing ? undefined : await startRedis();
globalThis.addEventListener("unload", () => void redis?.stop());
/** Each Redis store gets keys of its own, so tests never see each other's data. */
let redisStores = 0;

const makers: [string, () => Promise<StateStore>][] = [
  ["memory", () => Promise.resolve(new MemoryStore())],
  ["deno kv", async () => openDenoKvStore(`${await Deno.makeTempDir()}/store.kv`)],
];
if (redis) makers.push(["redis", () => openRedisStore(redis.url, { prefix: `t${++redisStores}:` })]);
else Deno.test({ name: `redis store: skipped (${redisMissing})`, ignore: true, fn() {} });

/** Chunk keys left in a Deno KV store (memory and Redis stores report their blob count instead). */
async function leftovers(store: StateStore): Promise<number> {
  if (store instanceof MemoryStore) return store.blobCount;
  if (store instanceof RedisStore) return await store.storedBlobs();
  let n = 0;
  for await (const _ of (store as DenoKvStore).kv.list({ prefix: ["blob"] })) n++;
  return n;
}

for (const [name, make] of makers) {
  for (const check of CONTRACT_CHECKS) {
    Deno.test(`${name} store: ${check.name}`, () => check.run({ name, make, leftovers }));
  }
}

Deno.test("deno kv store: sessions past the TTL do not count in usage", async () => {
  const store = await openDenoKvStore(`${await Deno.makeTempDir()}/store.kv`, { ttlMs: 1000 });
  const b = await store.putBlob(bytes(4, 0));
  await store.publish({ ...meta("old", b), owner: "k", updatedAt: Date.now() - 5000 }, undefined);
  await store.publish({ ...meta("new", b), owner: "k" }, undefined);
  assert.deepEqual(await store.usage("k"), { sessions: 1, bytes: 1 });
  store.close();
});

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
