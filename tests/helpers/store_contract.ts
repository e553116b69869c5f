// The StateStore promises as checks any implementation can be run against: store/contract_test.ts
// runs them in Deno (memory, Deno KV, Redis), tests/workers_store_test.ts inside workerd (Durable
// Objects). Runtime-neutral: no Deno namespace here, so the checks run in a Worker too.
import assert from "node:assert/strict";
import { BlobMissingError, type SessionMeta, type StateStore } from "../../store/types.ts";

/** A store implementation under test. */
export interface ContractSubject {
  /** Its name in test titles and logs. */
  readonly name: string;
  /** A new, empty store. */
  make(): Promise<StateStore>;
  /** Blobs (or blob chunks) left in `store`, for the checks that nothing is left behind. */
  leftovers(store: StateStore): Promise<number>;
}

/** One promise of the contract. */
export interface ContractCheck {
  /** What it checks (a test title). */
  readonly name: string;
  /** Throws (an assertion error) when `subject` breaks the promise. */
  run(subject: ContractSubject): Promise<void>;
}

/** Session metadata for the checks. */
export function meta(id: string, blob: string, tokens = 1): SessionMeta {
  const now = Date.now();
  return { id, model: "m", fingerprint: "f", tokens, stateBytes: 1, createdAt: now, updatedAt: now, blob };
}

/** `n` bytes of a pattern that `seed` shifts. */
export function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Every check, in the order they run. */
export const CONTRACT_CHECKS: readonly ContractCheck[] = [
  {
    name: "a multi-chunk blob round-trips (2.4 MB, as an RWKV-7 0.1B state)",
    async run(subject) {
      const store = await subject.make();
      const blob = bytes(2_430_000, 7);
      const id = await store.putBlob(blob);
      assert.deepEqual(await store.readBlob(id), blob);
      store.close();
    },
  },
  {
    name: "publish is compare-and-swap on the session's version",
    async run(subject) {
      const store = await subject.make();
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
    },
  },
  {
    name: "forks share a blob, which lives until its last user goes",
    async run(subject) {
      const store = await subject.make();
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
    },
  },
  {
    name: "events are published with the state and read back after a position",
    async run(subject) {
      const store = await subject.make();
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
    },
  },
  {
    name: "one lease holder at a time; an expired lease can be taken",
    async run(subject) {
      const store = await subject.make();
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
    },
  },
  {
    name: "racing renewals by the holder all succeed; racing takers, exactly one",
    async run(subject) {
      const store = await subject.make();
      assert.ok(await store.acquireLease("s", "holder", 10_000));
      const renewals = await Promise.all(
        Array.from({ length: 10 }, () => store.acquireLease("s", "holder", 10_000)),
      );
      assert.deepEqual(renewals, Array(10).fill(true), "a heartbeat and a checkpoint renewing at once");
      const takers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.acquireLease("t", `g${i}`, 10_000)),
      );
      assert.equal(takers.filter(Boolean).length, 1);
      assert.equal((await store.lease("t"))?.owner, `g${takers.indexOf(true)}`);
      store.close();
    },
  },
  {
    name: "a 110 MB blob round-trips, is superseded and deleted with nothing left behind",
    async run(subject) {
      const store = await subject.make();
      const big = bytes(110_000_000, 5);
      const b1 = await store.putBlob(big);
      assert.ok((await store.readBlob(b1)).every((v, i) => v === big[i]));
      const v1 = await store.publish(meta("big", b1), undefined);
      const b2 = await store.putBlob(bytes(110_000_000, 6));
      assert.ok(await store.publish(meta("big", b2), v1), "superseding the big blob");
      await assert.rejects(store.readBlob(b1), BlobMissingError);
      assert.ok(await store.delete("big"));
      assert.equal(await subject.leftovers(store), 0, "no chunk of either blob is left");
      store.close();
    },
  },
  {
    name: "publishing a blob that is not whole throws BlobMissingError",
    async run(subject) {
      const store = await subject.make();
      await assert.rejects(store.publish(meta("s", "never-written"), undefined), BlobMissingError);
      const b1 = await store.putBlob(bytes(10, 1));
      const v1 = await store.publish(meta("s", b1), undefined);
      await store.publish(meta("s", await store.putBlob(bytes(10, 2))), v1); // b1 is collected
      await assert.rejects(store.publish(meta("fork", b1), undefined), BlobMissingError);
      assert.equal(await store.get("fork"), undefined);
      store.close();
    },
  },
  {
    name: "a fork racing the checkpoint that supersedes its parent's blob never points at a missing blob",
    async run(subject) {
      const store = await subject.make();
      let lost = 0;
      for (let round = 0; round < 50; round++) {
        const parent = `p${round}`;
        const x = await store.putBlob(bytes(100, round));
        const v = await store.publish(meta(parent, x), undefined);
        const next = await store.putBlob(bytes(100, round + 1));
        const checkpoint = () => store.publish(meta(parent, next, 2), v);
        // Even rounds fork at once, before the checkpoint; odd ones after staggered delays, so some
        // forks land before the collection of the parent's old blob and some after it.
        const fork = async () => {
          if (round % 2) await new Promise((r) => setTimeout(r, round % 7));
          await store.publish(meta(`f${round}`, x), undefined).catch((err) => {
            assert.ok(err instanceof BlobMissingError, String(err));
            lost++;
          });
        };
        await Promise.all(round % 2 ? [checkpoint(), fork()] : [fork(), checkpoint()]);
        for (const id of [parent, `f${round}`]) {
          const got = await store.get(id);
          if (got) {
            assert.equal((await store.readBlob(got.meta.blob)).length, 100, `${id}'s blob is readable`);
          }
        }
      }
      console.log(`${subject.name}: ${lost} of 50 forks lost the race and were refused`);
      assert.ok(lost > 0 && lost < 50, `both outcomes happen (${lost} of 50 lost)`);
      store.close();
    },
  },
  {
    name: "usage counts an owner's live sessions and their bytes",
    async run(subject) {
      const store = await subject.make();
      const b = await store.putBlob(bytes(10, 1));
      const owned = (id: string, owner: string, stateBytes: number) => ({
        ...meta(id, b),
        owner,
        stateBytes,
      });
      const va = await store.publish(owned("a", "k1", 100), undefined);
      await store.publish(owned("b", "k1", 50), undefined);
      await store.publish(owned("c", "k2", 7), undefined);
      await store.publish(meta("d", b), undefined); // no owner
      assert.deepEqual(await store.usage("k1"), { sessions: 2, bytes: 150 });
      assert.deepEqual(await store.usage("k2"), { sessions: 1, bytes: 7 });
      await store.publish(owned("a", "k1", 120), va);
      assert.deepEqual(await store.usage("k1"), { sessions: 2, bytes: 170 });
      await store.delete("b");
      assert.deepEqual(await store.usage("k1"), { sessions: 1, bytes: 120 });
      assert.deepEqual(await store.usage("nobody"), { sessions: 0, bytes: 0 });
      store.close();
    },
  },
  {
    name: "sweep deletes blobs no session uses, and only those",
    async run(subject) {
      const store = await subject.make();
      const used = await store.putBlob(bytes(10, 1));
      await store.publish(meta("s", used), undefined);
      const orphan = await store.putBlob(bytes(70_000, 2)); // written, never published (a crash)
      assert.equal(await store.sweep(60_000), 0, "younger than the grace period");
      assert.equal(await store.sweep(0), 1);
      await assert.rejects(store.readBlob(orphan));
      assert.deepEqual(await store.readBlob(used), bytes(10, 1));
      store.close();
    },
  },
];
