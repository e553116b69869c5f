// Two instances (two SessionServices, each with its own connection) on one real redis-server. The
// generating instance's store stalls one checkpoint write for five lease times (a slow store, a
// long pause): its heartbeat keeps the lease, so the follower on the other instance never takes the
// generation over, and gets every event exactly once. Faults are injected into a real RedisStore.
import assert from "node:assert/strict";
import { DEFAULT_SAMPLING, SessionService } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { type Lease, RedisStore, type SessionMeta, type StoredEvent } from "../store/mod.ts";
import { RedisClient } from "../store/redis/client.ts";
import { parseRedisUrl } from "../store/redis/connection.ts";
import { ALL_SCRIPTS } from "../store/redis/scripts.ts";
import { redisMissing, startRedis } from "./helpers/redis_server.ts";

const LEASE_MS = 300;
const STALL_MS = 5 * LEASE_MS;

/** A RedisStore whose next publish waits STALL_MS first, once `stallNext` is set. */
class StallingStore extends RedisStore {
  stallNext = false;
  stalls = 0;
  stalling = false;
  override async publish(meta: SessionMeta, expected: string | undefined, events?: readonly StoredEvent[]) {
    if (this.stallNext) {
      this.stallNext = false;
      this.stalls++;
      this.stalling = true;
      await new Promise((r) => setTimeout(r, STALL_MS));
      this.stalling = false;
    }
    return await super.publish(meta, expected, events);
  }
}

Deno.test({
  name: "a generator stalled for five lease times but heartbeating is never taken over",
  ignore: redisMissing !== undefined,
  fn: async () => {
    const redis = await startRedis();
    const loaded = await loadModel(new URL("./fixtures/rwkv7/tiny3", import.meta.url).pathname);
    const models = new Map([[loaded.id, loaded]]);
    const address = parseRedisUrl(redis.url);
    const stalling = new StallingStore(new RedisClient(address, ALL_SCRIPTS), address, { prefix: "hb:" });
    const other = new RedisStore(new RedisClient(address, ALL_SCRIPTS), address, { prefix: "hb:" });
    const options = { models, defaultModel: loaded.id, checkpointEvery: 8, leaseMs: LEASE_MS, pollMs: 20 };
    const a = new SessionService({ ...options, store: stalling });
    const b = new SessionService({ ...options, store: other });
    const who = { id: "client:test", exclusive: false };
    try {
      const { id } = await a.create(undefined, [3, 4, 5], who);
      const request = {
        prompt: [],
        maxTokens: 200,
        ignoreEos: true,
        sampling: { ...DEFAULT_SAMPLING, temperature: 0.7 },
      };
      const { start } = await a.startGeneration(id, { ...request, seed: 9 }, who);
      stalling.stallNext = true; // the first checkpoint of the generation stalls
      const leases: (Lease | undefined)[] = [];
      const inStall: (Lease | undefined)[] = [];
      let following = true;
      const watching = (async () => {
        while (following) {
          const stalled = stalling.stalling;
          const lease = await other.lease(id);
          leases.push(lease);
          if (stalled && stalling.stalling) inStall.push(lease);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const seen: StoredEvent[] = [];
      for await (const e of b.follow(id, who)) seen.push(e);
      following = false;
      await watching;
      await a.drain();
      await b.drain();

      assert.equal(stalling.stalls, 1);
      assert.ok(inStall.length > 0, "the lease was sampled during the stall");
      assert.ok(inStall.every((l) => l !== undefined), "the lease was never free during the stall");
      const owners = new Set(leases.filter((l) => l !== undefined).map((l) => l.owner));
      assert.equal(owners.size, 1, "one holder throughout: no takeover");
      assert.equal(seen.at(-1)!.event, "done");
      const positions = seen.filter((e) => e.event === "token").map((e) => e.position);
      assert.deepEqual(
        positions,
        Array.from({ length: 200 }, (_, i) => start + i),
        "none lost, none repeated",
      );
      const logged: StoredEvent[] = [];
      for await (const e of a.follow(id, who)) logged.push(e);
      assert.deepEqual(seen, logged, "what B's follower saw is what the event log holds");
    } finally {
      stalling.close();
      other.close();
      loaded.model.backend.close();
      await redis.stop();
    }
  },
});
