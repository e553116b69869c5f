/**
 * StateStore on Cloudflare Durable Objects with SQLite storage, for the Workers entry. Three kinds
 * of object (three namespace bindings, wrangler.toml):
 *
 * - a session object per session id (store/durable_object/session_record.ts): metadata, version,
 *   the generations' events and the lease. Publish's compare-and-swap and the lease are plain
 *   checks there: an object runs one call at a time.
 * - blob shards, `blobShards` of them (store/durable_object/blob_shard.ts): a blob id names its
 *   shard (`<n>.<uuid>`, n picked at random when the blob is written); the shard keeps the blob in
 *   1 MiB chunks (SQLite rows are capped at 2 MB), its state ("writing" until the last chunk is
 *   in, then "whole") and its references: one row per session using it, one per publish in flight.
 *   Forks share a blob by referencing it; the last reference to go deletes it.
 * - an owner object per owner (store/durable_object/owner_index.ts): its sessions and their bytes.
 *
 * Publishing session S on blob B: the store pins B in its shard (refused with BlobMissingError if
 * B is not whole; once pinned, no collection can take it), then S's object checks the version
 * and, in one transaction, writes the metadata, the events and an outbox: B is used by S (the pin
 * becomes a reference), S's old blob is not (dropped, deleted if unused), the owner's row. The
 * object sends the outbox before answering; its alarm resends what a crash left unsent and deletes
 * the session when its TTL has passed (the same outbox then drops its blob and owner row). A
 * refused publish unpins B the same way. A pin is trusted for 30 s: the sweep ends pins older
 * than 2 minutes whose session does not use their blob (a publisher that died between pin and
 * swap), then deletes blobs nothing references that are older than its grace period.
 *
 * Not here: a live feed (followers on other isolates poll the event log). Generations run in
 * another object per session, the Worker's (workers/session_host.ts), which uses this store.
 *
 * @module
 */

import { Links, type StoreBindings } from "./durable_object/links.ts";
import { PIN_TRUST_MS, PIN_TTL_MS } from "./durable_object/session_record.ts";
import {
  BlobMissingError,
  type Lease,
  type SessionMeta,
  type StateStore,
  type StoredEvent,
  type VersionedMeta,
} from "./types.ts";

export type { StoreBindings } from "./durable_object/links.ts";

/** Bytes per blob chunk (one SQLite row; rows are capped at 2 MB). */
const CHUNK = 1 << 20;
/** Chunks per call to a shard (a call's message stays well under workerd's 32 MiB). */
const CHUNKS_PER_CALL = 8;
/** Publishes retried when the pin aged past {@linkcode PIN_TRUST_MS} before the swap. */
const PUBLISH_ATTEMPTS = 3;

/** Options of {@linkcode DurableObjectStore}. */
export interface DurableObjectStoreOptions {
  /** Sessions not updated for this long disappear (default 7 days). */
  ttlMs?: number;
  /** Blob shards (default 16). May grow between deployments, never shrink. */
  blobShards?: number;
  /** Prepended to every object's name: stores with different prefixes share nothing (default ""). */
  prefix?: string;
}

/** See the module documentation. */
export class DurableObjectStore implements StateStore {
  readonly #links: Links;
  readonly #ttl: number;

  /** A store over the three namespace bindings. */
  constructor(bindings: StoreBindings, options: DurableObjectStoreOptions = {}) {
    this.#links = new Links(bindings, options.blobShards ?? 16, options.prefix);
    this.#ttl = options.ttlMs ?? 7 * 24 * 3600 * 1000;
  }

  async get(id: string): Promise<VersionedMeta | undefined> {
    return await this.#links.session(id).read();
  }

  async putBlob(blob: Uint8Array): Promise<string> {
    const blobId = this.#links.newBlobId();
    const shard = this.#links.shardOf(blobId)!;
    const size = { chunks: Math.max(1, Math.ceil(blob.length / CHUNK)), bytes: blob.length };
    for (let start = 0; start < size.chunks; start += CHUNKS_PER_CALL) {
      const part: Uint8Array[] = [];
      // slice, not subarray: a view would carry its whole buffer over the call.
      for (let i = start; i < Math.min(size.chunks, start + CHUNKS_PER_CALL); i++) {
        part.push(blob.slice(i * CHUNK, (i + 1) * CHUNK));
      }
      if (!await shard.write(blobId, start, part, size)) {
        throw new Error(`Writing blob ${blobId} took so long a sweep collected it: write it again`);
      }
    }
    return blobId;
  }

  async readBlob(blobId: string): Promise<Uint8Array> {
    const shard = this.#links.shardOf(blobId);
    if (!shard) throw new BlobMissingError(blobId);
    let out = new Uint8Array(0);
    let at = 0, n = 0, chunks = 1;
    while (n < chunks) {
      const part = await shard.read(blobId, n, CHUNKS_PER_CALL);
      if (!part || part.data.length === 0) throw new BlobMissingError(blobId); // collected meanwhile
      if (n === 0) [out, chunks] = [new Uint8Array(part.bytes), part.chunks];
      for (const chunk of part.data) {
        if (at + chunk.length > out.length) throw new BlobMissingError(blobId);
        out.set(chunk, at);
        at += chunk.length;
        n++;
      }
    }
    if (at !== out.length) throw new BlobMissingError(blobId);
    return out;
  }

  async publish(
    meta: SessionMeta,
    expected: string | undefined,
    events: readonly StoredEvent[] = [],
  ): Promise<string | undefined> {
    const shard = this.#links.shardOf(meta.blob);
    if (!shard) throw new BlobMissingError(meta.blob);
    for (let attempt = 1;; attempt++) {
      const pin = crypto.randomUUID();
      const pinnedAt = await shard.pin({ blob: meta.blob, session: meta.id, pin });
      if (pinnedAt === undefined) throw new BlobMissingError(meta.blob);
      const session = this.#links.session(meta.id);
      const prefix = this.#links.prefix;
      const result = await session.swap({ meta, expected, events, pin, pinnedAt, ttlMs: this.#ttl, prefix });
      if ("version" in result) return result.version;
      if (result.refused === "version") return undefined;
      if (attempt === PUBLISH_ATTEMPTS) {
        throw new Error(
          `Publishing session ${meta.id} kept taking longer than a blob pin is trusted (${PIN_TRUST_MS} ms)`,
        );
      }
    }
  }

  async delete(id: string): Promise<boolean> {
    return await this.#links.session(id).remove();
  }

  async readEvents(id: string, generationId: string, after = -1): Promise<StoredEvent[]> {
    return await this.#links.session(id).events(generationId, after);
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return await this.#links.session(id).acquire(owner, ttlMs);
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.#links.session(id).release(owner);
  }

  async lease(id: string): Promise<Lease | undefined> {
    return await this.#links.session(id).lease();
  }

  async sweep(graceMs: number): Promise<number> {
    let n = 0;
    for (let s = 0; s < this.#links.blobShards; s++) {
      const shard = this.#links.shard(s);
      for (const ref of await shard.stalePins(Math.max(graceMs, PIN_TTL_MS))) {
        // A session that uses the blob has the pin's settling in its outbox: leave it to that.
        if (await this.#links.session(ref.session).blobOf() !== ref.blob) await shard.endPin(ref);
      }
      n += await shard.sweep(graceMs);
    }
    return n;
  }

  async usage(owner: string): Promise<{ sessions: number; bytes: number }> {
    return await this.#links.owner(owner).usage(this.#ttl);
  }

  /** Blobs stored over every shard, whole or not (for tests that nothing is left behind). */
  async storedBlobs(): Promise<number> {
    let n = 0;
    for (let s = 0; s < this.#links.blobShards; s++) n += await this.#links.shard(s).count();
    return n;
  }

  close(): void {}
}
