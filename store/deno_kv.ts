import { retryBusy } from "./retry.ts";
import {
  BlobMissingError,
  type Lease,
  type SessionMeta,
  type StateStore,
  type StoredEvent,
  type VersionedMeta,
} from "./types.ts";

/** Bytes per blob chunk: under Deno KV's 64 KiB value limit. */
const CHUNK = 60_000;
/** Chunks per atomic commit: under the 800 KiB commit limit. */
const CHUNKS_PER_COMMIT = 12;
/** Deletes per atomic commit: under the 1 000 mutations a commit may hold. */
const DELETES_PER_COMMIT = 500;
/** Attempts at an atomic step that keeps losing its check to concurrent writers before giving up. */
const MAX_ATTEMPTS = 20;

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
  return new DenoKvStore(await retryBusy(() => Deno.openKv(path)), options.ttlMs ?? 7 * 24 * 3600 * 1000);
}

/** A blob's info record: "writing" until its last chunk is in, "collecting" once no session may use it. */
interface BlobInfo {
  /** Absent in records written before states existed: those blobs are whole. */
  state?: "writing" | "whole" | "collecting";
  chunks: number;
  bytes: number;
  createdAt: number;
}

const isWhole = (info: BlobInfo | null) => info !== null && (info.state ?? "whole") === "whole";

/**
 * StateStore on Deno KV. Layout:
 *   ["session", id]              SessionMeta (expires after the TTL)
 *   ["blob", blobId, i]          chunk i of an immutable state blob (≤ 60 000 bytes)
 *   ["blobinfo", blobId]         BlobInfo: written first ("writing") and last ("whole")
 *   ["blobuse", blobId, id]      true while session id points at blobId
 *   ["owner", owner, id]         { bytes, updatedAt } of each session an owner has (for quotas)
 *   ["events", id, genId, pos]   { event, data } of one generation
 *   ["lease", id]                Lease
 *
 * Sharing blobs safely: publish reads the blob's info, and its atomic commit checks that info's
 * versionstamp and writes it again (so the versionstamp moves). Collection reads the info first,
 * then looks for users, and marks the info "collecting" in a commit checked against the
 * versionstamp it read, before deleting any chunk. Either the publish commits first (then the
 * collection sees its user, or fails its check and stops), or the collection does (then the
 * publish fails its check, finds the blob collecting and throws BlobMissingError). A collection
 * cut by a crash is finished by the next sweep. Every call is retried while the database is busy.
 */
export class DenoKvStore implements StateStore {
  /** Wraps an open KV handle. */
  constructor(readonly kv: Deno.Kv, readonly ttlMs: number) {}

  async get(id: string): Promise<VersionedMeta | undefined> {
    const entry = await retryBusy(() => this.kv.get<SessionMeta>(["session", id]));
    if (entry.value === null || entry.versionstamp === null) return undefined;
    if (Date.now() - entry.value.updatedAt > this.ttlMs) return undefined;
    return { meta: entry.value, version: entry.versionstamp };
  }

  async putBlob(blob: Uint8Array): Promise<string> {
    const blobId = crypto.randomUUID();
    const chunks = Math.max(1, Math.ceil(blob.length / CHUNK));
    const info: BlobInfo = { state: "writing", chunks, bytes: blob.length, createdAt: Date.now() };
    for (let first = 0; first < chunks; first += CHUNKS_PER_COMMIT) {
      const op = this.kv.atomic();
      if (first === 0) op.set(["blobinfo", blobId], info);
      for (let i = first; i < Math.min(chunks, first + CHUNKS_PER_COMMIT); i++) {
        op.set(["blob", blobId, i], blob.slice(i * CHUNK, (i + 1) * CHUNK));
      }
      if (first + CHUNKS_PER_COMMIT >= chunks) op.set(["blobinfo", blobId], { ...info, state: "whole" });
      const res = await retryBusy(() => op.commit());
      if (!res.ok) throw new Error(`Writing blob ${blobId} failed`);
    }
    return blobId;
  }

  async readBlob(blobId: string): Promise<Uint8Array> {
    const info = await this.#info(blobId);
    if (!isWhole(info.value)) throw new BlobMissingError(blobId);
    const { chunks, bytes } = info.value!;
    const out = new Uint8Array(bytes);
    const { at, n } = await retryBusy(async () => {
      let at = 0, n = 0;
      for await (const e of this.kv.list<Uint8Array>({ prefix: ["blob", blobId] })) {
        if (at + e.value.length > bytes) break;
        out.set(e.value, at);
        at += e.value.length;
        n++;
      }
      return { at, n };
    });
    if (n !== chunks || at !== bytes) throw new BlobMissingError(blobId);
    return out;
  }

  async publish(
    meta: SessionMeta,
    expected: string | undefined,
    events: readonly StoredEvent[] = [],
  ): Promise<string | undefined> {
    const key = ["session", meta.id];
    const expireIn = this.ttlMs;
    for (let attempt = 1;; attempt++) {
      const [current, info] = await retryBusy(() =>
        this.kv.getMany<[SessionMeta, BlobInfo]>([key, ["blobinfo", meta.blob]])
      );
      const live = current.value !== null && Date.now() - current.value.updatedAt <= this.ttlMs;
      if ((live ? current.versionstamp! : undefined) !== expected) return undefined;
      if (!isWhole(info.value)) throw new BlobMissingError(meta.blob);
      const op = this.kv.atomic().check(current).check(info);
      op.set(["blobinfo", meta.blob], info.value); // moves its versionstamp: a racing collection stops
      op.set(key, meta, { expireIn });
      op.set(["blobuse", meta.blob, meta.id], true, { expireIn });
      const old = current.value;
      if (old && old.blob !== meta.blob) op.delete(["blobuse", old.blob, meta.id]);
      if (old?.owner && old.owner !== meta.owner) op.delete(["owner", old.owner, meta.id]);
      if (meta.owner) {
        op.set(["owner", meta.owner, meta.id], { bytes: meta.stateBytes, updatedAt: meta.updatedAt }, {
          expireIn,
        });
      }
      for (const e of events) {
        const value = { event: e.event, data: e.data };
        op.set(["events", meta.id, meta.generation!.id, e.position], value, { expireIn });
      }
      const res = await retryBusy(() => op.commit());
      if (res.ok) {
        if (old && old.blob !== meta.blob) await this.#collect(old.blob);
        return res.versionstamp;
      }
      // The session moved (the next round returns undefined), or the blob's info did: another
      // publish shared it (try again) or a collection took it (the next round throws).
      if (attempt === MAX_ATTEMPTS) {
        throw new Error(`Publishing session ${meta.id} kept losing to other writers`);
      }
    }
  }

  #info(blobId: string): Promise<Deno.KvEntryMaybe<BlobInfo>> {
    return retryBusy(() => this.kv.get<BlobInfo>(["blobinfo", blobId]));
  }

  // Deletes a blob unless a session uses it (see the class documentation for the protocol).
  async #collect(blobId: string): Promise<boolean> {
    const info = await this.#info(blobId);
    if (info.value === null) return false;
    if (info.value.state !== "collecting") {
      if (await this.#hasAny(["blobuse", blobId])) return false;
      const res = await retryBusy(() =>
        this.kv.atomic().check(info).set(["blobinfo", blobId], { ...info.value!, state: "collecting" })
          .commit()
      );
      if (!res.ok) return false;
    }
    await this.#deletePrefix(["blob", blobId]);
    await retryBusy(() => this.kv.delete(["blobinfo", blobId]));
    return true;
  }

  async #hasAny(prefix: Deno.KvKey): Promise<boolean> {
    return await retryBusy(async () => {
      for await (const _ of this.kv.list({ prefix }, { limit: 1 })) return true;
      return false;
    });
  }

  // Deletes every key under `prefix`, a fresh atomic commit per batch (any number of keys).
  async #deletePrefix(prefix: Deno.KvKey): Promise<void> {
    while (true) {
      const keys = await retryBusy(async () => {
        const out: Deno.KvKey[] = [];
        for await (const e of this.kv.list({ prefix }, { limit: DELETES_PER_COMMIT })) out.push(e.key);
        return out;
      });
      if (keys.length === 0) return;
      const op = this.kv.atomic();
      for (const k of keys) op.delete(k);
      await retryBusy(() => op.commit());
    }
  }

  async sweep(graceMs: number): Promise<number> {
    const infos = await retryBusy(async () => {
      const out: [string, BlobInfo][] = [];
      for await (const e of this.kv.list<BlobInfo>({ prefix: ["blobinfo"] })) {
        out.push([e.key[1] as string, e.value]);
      }
      return out;
    });
    let n = 0;
    for (const [blobId, info] of infos) {
      if (info.state !== "collecting" && Date.now() - (info.createdAt ?? 0) < graceMs) continue;
      if (await this.#collect(blobId)) n++;
    }
    return n;
  }

  async delete(id: string): Promise<boolean> {
    for (let attempt = 1;; attempt++) {
      const current = await retryBusy(() => this.kv.get<SessionMeta>(["session", id]));
      if (!current.value) return false;
      const op = this.kv.atomic().check(current).delete(["session", id]).delete([
        "blobuse",
        current.value.blob,
        id,
      ]);
      if (current.value.owner) op.delete(["owner", current.value.owner, id]);
      const res = await retryBusy(() => op.commit());
      if (res.ok) {
        await this.#collect(current.value.blob);
        await this.#deletePrefix(["events", id]);
        await retryBusy(() => this.kv.delete(["lease", id]));
        return true;
      }
      if (attempt === MAX_ATTEMPTS) throw new Error(`Deleting session ${id} kept losing to other writers`);
    }
  }

  async readEvents(id: string, generationId: string, after = -1): Promise<StoredEvent[]> {
    return await retryBusy(async () => {
      const out: StoredEvent[] = [];
      const iter = this.kv.list<{ event: StoredEvent["event"]; data: string }>({
        start: ["events", id, generationId, after + 1],
        end: ["events", id, generationId, Number.MAX_SAFE_INTEGER],
      });
      for await (const e of iter) out.push({ position: e.key[3] as number, ...e.value });
      return out;
    });
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const key = ["lease", id];
    // A failed check means the lease changed under us: read it again (the holder may be `owner`
    // itself, renewing from a heartbeat and a checkpoint at once).
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const held = await retryBusy(() => this.kv.get<Lease>(key));
      if (held.value && held.value.owner !== owner && held.value.expiresAt > Date.now()) return false;
      const lease: Lease = { owner, expiresAt: Date.now() + ttlMs };
      const res = await retryBusy(() =>
        this.kv.atomic().check(held).set(key, lease, { expireIn: ttlMs + 60_000 }).commit()
      );
      if (res.ok) return true;
    }
    return false;
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    const held = await retryBusy(() => this.kv.get<Lease>(["lease", id]));
    if (held.value?.owner !== owner) return;
    await retryBusy(() => this.kv.atomic().check(held).delete(["lease", id]).commit());
  }

  async lease(id: string): Promise<Lease | undefined> {
    const held = await retryBusy(() => this.kv.get<Lease>(["lease", id]));
    return held.value && held.value.expiresAt > Date.now() ? held.value : undefined;
  }

  async usage(owner: string): Promise<{ sessions: number; bytes: number }> {
    return await retryBusy(async () => {
      let sessions = 0, bytes = 0;
      const iter = this.kv.list<{ bytes: number; updatedAt: number }>({ prefix: ["owner", owner] });
      for await (const e of iter) {
        if (Date.now() - e.value.updatedAt > this.ttlMs) continue;
        sessions++;
        bytes += e.value.bytes;
      }
      return { sessions, bytes };
    });
  }

  close(): void {
    this.kv.close();
  }
}
