import type { Lease, SessionMeta, StateStore, StoredEvent, VersionedMeta } from "./types.ts";

/** Bytes per blob chunk: under Deno KV's 64 KiB value limit. */
const CHUNK = 60_000;
/** Chunks per atomic commit: under the 800 KiB commit limit. */
const CHUNKS_PER_COMMIT = 12;

/** Options of {@linkcode openDenoKvStore}. */
export interface DenoKvStoreOptions {
  /** Sessions not updated for this long disappear (default 7 days). */
  ttlMs?: number;
}

/**
 * Opens a Deno KV store: a local SQLite file at `path` (created on first use), or
 * Deno Deploy's hosted KV when `path` is undefined there.
 */
export async function openDenoKvStore(path?: string, options: DenoKvStoreOptions = {}): Promise<DenoKvStore> {
  return new DenoKvStore(await Deno.openKv(path), options.ttlMs ?? 7 * 24 * 3600 * 1000);
}

/**
 * StateStore on Deno KV. Layout:
 *   ["session", id]              SessionMeta (expires after the TTL)
 *   ["blob", blobId, i]          chunk i of an immutable state blob (≤ 60 000 bytes)
 *   ["blobinfo", blobId]         { chunks, bytes, createdAt }: written last, so a blob is readable only once whole
 *   ["blobuse", blobId, id]      true while session id points at blobId
 *   ["events", id, genId, pos]   { event, data } of one generation
 *   ["lease", id]                Lease
 */
export class DenoKvStore implements StateStore {
  /** Wraps an open KV handle. */
  constructor(readonly kv: Deno.Kv, readonly ttlMs: number) {}

  async get(id: string): Promise<VersionedMeta | undefined> {
    const entry = await this.kv.get<SessionMeta>(["session", id]);
    if (entry.value === null || entry.versionstamp === null) return undefined;
    if (Date.now() - entry.value.updatedAt > this.ttlMs) return undefined;
    return { meta: entry.value, version: entry.versionstamp };
  }

  async putBlob(blob: Uint8Array): Promise<string> {
    const blobId = crypto.randomUUID();
    const chunks = Math.max(1, Math.ceil(blob.length / CHUNK));
    for (let first = 0; first < chunks; first += CHUNKS_PER_COMMIT) {
      const op = this.kv.atomic();
      for (let i = first; i < Math.min(chunks, first + CHUNKS_PER_COMMIT); i++) {
        op.set(["blob", blobId, i], blob.slice(i * CHUNK, (i + 1) * CHUNK));
      }
      if (first + CHUNKS_PER_COMMIT >= chunks) {
        op.set(["blobinfo", blobId], { chunks, bytes: blob.length, createdAt: Date.now() });
      }
      const res = await op.commit();
      if (!res.ok) throw new Error(`Writing blob ${blobId} failed`);
    }
    return blobId;
  }

  async readBlob(blobId: string): Promise<Uint8Array> {
    const info = await this.kv.get<{ chunks: number; bytes: number }>(["blobinfo", blobId]);
    if (!info.value) throw new Error(`Blob ${blobId} is missing`);
    const out = new Uint8Array(info.value.bytes);
    let at = 0, n = 0;
    for await (const e of this.kv.list<Uint8Array>({ prefix: ["blob", blobId] })) {
      out.set(e.value, at);
      at += e.value.length;
      n++;
    }
    if (n !== info.value.chunks || at !== info.value.bytes) throw new Error(`Blob ${blobId} is incomplete`);
    return out;
  }

  async publish(
    meta: SessionMeta,
    expected: string | undefined,
    events: readonly StoredEvent[] = [],
  ): Promise<string | undefined> {
    const key = ["session", meta.id];
    const current = await this.kv.get<SessionMeta>(key);
    const live = current.value !== null && Date.now() - current.value.updatedAt <= this.ttlMs;
    if ((live ? current.versionstamp! : undefined) !== expected) return undefined;
    const expireIn = this.ttlMs;
    const op = this.kv.atomic().check({ key, versionstamp: current.versionstamp });
    op.set(key, meta, { expireIn });
    op.set(["blobuse", meta.blob, meta.id], true, { expireIn });
    const old = current.value?.blob;
    if (old && old !== meta.blob) op.delete(["blobuse", old, meta.id]);
    for (const e of events) {
      op.set(["events", meta.id, meta.generation!.id, e.position], { event: e.event, data: e.data }, {
        expireIn,
      });
    }
    const res = await op.commit();
    if (!res.ok) return undefined;
    if (old && old !== meta.blob) await this.#collect(old);
    return res.versionstamp;
  }

  async #collect(blobId: string): Promise<void> {
    for await (const _ of this.kv.list({ prefix: ["blobuse", blobId] }, { limit: 1 })) return;
    const op = this.kv.atomic();
    let n = 0;
    for await (const e of this.kv.list({ prefix: ["blob", blobId] })) {
      op.delete(e.key);
      if (++n % 500 === 0) await op.commit();
    }
    op.delete(["blobinfo", blobId]);
    await op.commit();
  }

  async sweep(graceMs: number): Promise<number> {
    let n = 0;
    for await (const e of this.kv.list<{ createdAt?: number }>({ prefix: ["blobinfo"] })) {
      if (Date.now() - (e.value.createdAt ?? 0) < graceMs) continue;
      const blobId = e.key[1] as string;
      let used = false;
      for await (const _ of this.kv.list({ prefix: ["blobuse", blobId] }, { limit: 1 })) used = true;
      if (!used) {
        await this.#collect(blobId);
        n++;
      }
    }
    return n;
  }

  async delete(id: string): Promise<boolean> {
    const current = await this.kv.get<SessionMeta>(["session", id]);
    if (!current.value) return false;
    const res = await this.kv.atomic().check(current).delete(["session", id])
      .delete(["blobuse", current.value.blob, id]).commit();
    if (!res.ok) return this.delete(id);
    await this.#collect(current.value.blob);
    for await (const e of this.kv.list({ prefix: ["events", id] })) await this.kv.delete(e.key);
    await this.kv.delete(["lease", id]);
    return true;
  }

  async readEvents(id: string, generationId: string, after = -1): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    const iter = this.kv.list<{ event: StoredEvent["event"]; data: string }>({
      start: ["events", id, generationId, after + 1],
      end: ["events", id, generationId, Number.MAX_SAFE_INTEGER],
    });
    for await (const e of iter) out.push({ position: e.key[3] as number, ...e.value });
    return out;
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const key = ["lease", id];
    const held = await this.kv.get<Lease>(key);
    if (held.value && held.value.owner !== owner && held.value.expiresAt > Date.now()) return false;
    const lease: Lease = { owner, expiresAt: Date.now() + ttlMs };
    const res = await this.kv.atomic().check(held).set(key, lease, { expireIn: ttlMs + 60_000 }).commit();
    return res.ok;
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    const held = await this.kv.get<Lease>(["lease", id]);
    if (held.value?.owner === owner) await this.kv.atomic().check(held).delete(["lease", id]).commit();
  }

  async lease(id: string): Promise<Lease | undefined> {
    const held = await this.kv.get<Lease>(["lease", id]);
    return held.value && held.value.expiresAt > Date.now() ? held.value : undefined;
  }

  close(): void {
    this.kv.close();
  }
}
