import {
  BlobMissingError,
  type Lease,
  type SessionMeta,
  type StateStore,
  type StoredEvent,
  type VersionedMeta,
} from "./types.ts";

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Sessions not updated for this long disappear (default: never). */
  ttlMs?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

/** A StateStore in this process's memory: for tests and single-instance use. */
export class MemoryStore implements StateStore {
  #metas = new Map<string, { meta: SessionMeta; version: number }>();
  #blobs = new Map<string, Uint8Array>();
  #blobTimes = new Map<string, number>();
  #events = new Map<string, StoredEvent[]>();
  #leases = new Map<string, Lease>();
  #version = 0;
  readonly #ttl: number;
  readonly #now: () => number;

  /** An empty store. */
  constructor(options: MemoryStoreOptions = {}) {
    this.#ttl = options.ttlMs ?? Infinity;
    this.#now = options.now ?? Date.now;
  }

  #live(id: string) {
    const entry = this.#metas.get(id);
    if (entry && this.#now() - entry.meta.updatedAt > this.#ttl) {
      this.#metas.delete(id);
      this.#collect(entry.meta.blob);
      return undefined;
    }
    return entry;
  }

  get(id: string): Promise<VersionedMeta | undefined> {
    const entry = this.#live(id);
    return Promise.resolve(entry && { meta: entry.meta, version: String(entry.version) });
  }

  putBlob(blob: Uint8Array): Promise<string> {
    const id = crypto.randomUUID();
    this.#blobs.set(id, blob.slice());
    this.#blobTimes.set(id, this.#now());
    return Promise.resolve(id);
  }

  readBlob(blobId: string): Promise<Uint8Array> {
    const blob = this.#blobs.get(blobId);
    if (!blob) return Promise.reject(new BlobMissingError(blobId));
    return Promise.resolve(blob.slice());
  }

  publish(meta: SessionMeta, expected: string | undefined, events: readonly StoredEvent[] = []) {
    const current = this.#live(meta.id);
    if ((current ? String(current.version) : undefined) !== expected) return Promise.resolve(undefined);
    if (!this.#blobs.has(meta.blob)) return Promise.reject(new BlobMissingError(meta.blob));
    const version = ++this.#version;
    this.#metas.set(meta.id, { meta, version });
    if (events.length && meta.generation) {
      const key = `${meta.id}/${meta.generation.id}`;
      this.#events.set(key, [...(this.#events.get(key) ?? []), ...events]);
    }
    if (current && current.meta.blob !== meta.blob) this.#collect(current.meta.blob);
    return Promise.resolve(String(version));
  }

  #collect(blobId: string) {
    for (const { meta } of this.#metas.values()) if (meta.blob === blobId) return;
    this.#blobs.delete(blobId);
    this.#blobTimes.delete(blobId);
  }

  sweep(graceMs: number): Promise<number> {
    for (const id of [...this.#metas.keys()]) this.#live(id);
    let n = 0;
    for (const [blobId, at] of [...this.#blobTimes]) {
      if (this.#now() - at < graceMs) continue;
      const before = this.#blobs.size;
      this.#collect(blobId);
      n += before - this.#blobs.size;
    }
    return Promise.resolve(n);
  }

  delete(id: string): Promise<boolean> {
    const entry = this.#metas.get(id);
    if (!entry) return Promise.resolve(false);
    this.#metas.delete(id);
    for (const key of this.#events.keys()) if (key.startsWith(`${id}/`)) this.#events.delete(key);
    this.#collect(entry.meta.blob);
    return Promise.resolve(true);
  }

  readEvents(id: string, generationId: string, after = -1): Promise<StoredEvent[]> {
    return Promise.resolve(
      (this.#events.get(`${id}/${generationId}`) ?? []).filter((e) => e.position > after),
    );
  }

  acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const held = this.#leases.get(id);
    if (held && held.owner !== owner && held.expiresAt > this.#now()) return Promise.resolve(false);
    this.#leases.set(id, { owner, expiresAt: this.#now() + ttlMs });
    return Promise.resolve(true);
  }

  releaseLease(id: string, owner: string): Promise<void> {
    if (this.#leases.get(id)?.owner === owner) this.#leases.delete(id);
    return Promise.resolve();
  }

  lease(id: string): Promise<Lease | undefined> {
    const held = this.#leases.get(id);
    return Promise.resolve(held && held.expiresAt > this.#now() ? held : undefined);
  }

  usage(owner: string): Promise<{ sessions: number; bytes: number }> {
    let sessions = 0, bytes = 0;
    for (const id of [...this.#metas.keys()]) {
      const entry = this.#live(id);
      if (entry?.meta.owner !== owner) continue;
      sessions++;
      bytes += entry.meta.stateBytes;
    }
    return Promise.resolve({ sessions, bytes });
  }

  /** Blobs currently stored (for tests of sharing and collection). */
  get blobCount(): number {
    return this.#blobs.size;
  }

  close(): void {}
}
