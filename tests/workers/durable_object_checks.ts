// What the Durable Object store adds beyond the contract, checked inside workerd by
// tests/workers/contract_worker.ts: expiry by the session object's alarm, one stored copy of a
// blob shared by forks, what a refused publish leaves behind, only the current generation's
// events kept, and a deleted session's id starting afresh.
import assert from "node:assert/strict";
import { bytes, type ContractCheck, type ContractSubject, meta } from "../helpers/store_contract.ts";
import type { DurableObjectStore, DurableObjectStoreOptions } from "../../store/durable_object.ts";

/** A Durable Object store under test, made with options. */
export interface DurableObjectSubject extends ContractSubject {
  make(options?: DurableObjectStoreOptions): Promise<DurableObjectStore>;
}

/** A check of the Durable Object store only. */
export interface DurableObjectCheck extends ContractCheck {
  run(subject: DurableObjectSubject): Promise<void>;
}

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out waiting until ${what}`);
}

/** The checks, in the order they run. */
export const DURABLE_OBJECT_CHECKS: readonly DurableObjectCheck[] = [
  {
    name: "a session past the TTL is deleted by its object's alarm, blob and quota row included",
    async run(subject) {
      const store = await subject.make({ ttlMs: 1000 });
      const old = await store.putBlob(bytes(10, 1));
      const kept = await store.putBlob(bytes(10, 2));
      await store.publish({ ...meta("old", old), owner: "k", updatedAt: Date.now() - 5000 }, undefined);
      await store.publish({ ...meta("new", kept), owner: "k" }, undefined);
      await until(
        "the alarm deleted the expired session's blob",
        async () => await store.storedBlobs() === 1,
      );
      await assert.rejects(store.readBlob(old));
      assert.equal(await store.get("old"), undefined);
      assert.deepEqual(await store.usage("k"), { sessions: 1, bytes: 1 });
      assert.ok(await store.get("new"));
    },
  },
  {
    name: "forks keep one stored copy of the blob they share",
    async run(subject) {
      const store = await subject.make();
      const b = await store.putBlob(bytes(3_000_000, 4));
      await store.publish(meta("a", b), undefined);
      for (let i = 0; i < 5; i++) await store.publish(meta(`fork${i}`, b), undefined);
      assert.equal(await store.storedBlobs(), 1);
      for (let i = 0; i < 5; i++) await store.delete(`fork${i}`);
      assert.deepEqual(await store.readBlob(b), bytes(3_000_000, 4));
      await store.delete("a");
      assert.equal(await store.storedBlobs(), 0);
    },
  },
  {
    name: "a refused publish leaves its blob to the sweep, and nothing else behind",
    async run(subject) {
      const store = await subject.make();
      const v1 = await store.publish(meta("s", await store.putBlob(bytes(10, 1))), undefined);
      const lost = await store.putBlob(bytes(10, 2));
      assert.equal(await store.publish(meta("s", lost), undefined), undefined);
      assert.ok(await store.publish(meta("s", await store.putBlob(bytes(10, 3))), v1));
      assert.equal(await store.storedBlobs(), 2, "the current blob and the refused one");
      assert.equal(await store.sweep(0), 1);
      await assert.rejects(store.readBlob(lost));
      assert.equal(await store.storedBlobs(), 1);
    },
  },
  {
    name: "a new generation's first publish drops the last generation's events",
    async run(subject) {
      const store = await subject.make();
      const b = await store.putBlob(bytes(4, 0));
      const gen = (id: string) => ({
        id,
        status: "done" as const,
        start: 1,
        request: {},
        checkpoint: 2,
        heldText: "",
      });
      const event = { position: 1, event: "token" as const, data: "{}" };
      const v1 = await store.publish({ ...meta("s", b), generation: gen("g1") }, undefined, [event]);
      assert.equal((await store.readEvents("s", "g1")).length, 1);
      await store.publish({ ...meta("s", b), generation: gen("g2") }, v1, [event, { ...event, position: 2 }]);
      assert.deepEqual(await store.readEvents("s", "g1"), []);
      assert.deepEqual((await store.readEvents("s", "g2")).map((e) => e.position), [1, 2]);
    },
  },
  {
    name: "a deleted session's id starts afresh: no version, events or lease of the old one",
    async run(subject) {
      const store = await subject.make();
      const b = await store.putBlob(bytes(4, 0));
      const generation = {
        id: "g",
        status: "running" as const,
        start: 1,
        request: {},
        checkpoint: 1,
        heldText: "",
      };
      const v1 = await store.publish({ ...meta("s", b), generation }, undefined, [
        { position: 1, event: "token", data: "{}" },
      ]);
      assert.ok(await store.acquireLease("s", "gen", 60_000));
      assert.ok(await store.delete("s"));
      assert.equal(await store.lease("s"), undefined);
      assert.deepEqual(await store.readEvents("s", "g"), []);
      const b2 = await store.putBlob(bytes(4, 1));
      assert.equal(await store.publish(meta("s", b2), v1), undefined, "the old version is void");
      assert.ok(await store.publish(meta("s", b2), undefined));
      assert.equal(await store.storedBlobs(), 1);
    },
  },
];
