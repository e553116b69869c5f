// One session, inside its own Durable Object: its metadata and version (compare-and-swap is a
// plain check, the object being single-threaded), its current generation's events (a new
// generation's first publish drops the last one's), its lease, and an outbox (./outbox.ts):
// whatever a publish or a deletion must tell other objects (the blob shard: the new blob is used,
// the old one is not; the owner: bytes and count) is written there in the same transaction as the
// change, then sent. The object's alarm sends what a crash left unsent and deletes the session
// once its TTL has passed. Tables are made by the first write, so reading a session that does not
// exist stores nothing, and an object left with nothing to keep deletes its storage.
import type { Lease, SessionMeta, StoredEvent, VersionedMeta } from "../types.ts";
import type { Links } from "./links.ts";
import { Outbox } from "./outbox.ts";
import { first, type ObjectStorage, rows, run } from "./sql.ts";

/** A publish as the session's object takes it (the store pinned `meta.blob` first). */
export interface SwapRequest {
  /** The new metadata. */
  readonly meta: SessionMeta;
  /** The version it replaces (undefined: the session must not exist). */
  readonly expected: string | undefined;
  /** Events appended with it. */
  readonly events: readonly StoredEvent[];
  /** The pin holding `meta.blob` in its shard for this publish. */
  readonly pin: string;
  /** When the shard took the pin (Unix ms). */
  readonly pinnedAt: number;
  /** The store's TTL: the session is deleted this long after `meta.updatedAt`. */
  readonly ttlMs: number;
  /** The store's prefix, which the names of the objects the outbox writes to start with. */
  readonly prefix: string;
}

/** The new version, or why the publish was refused (a moved version; a pin held too long to trust). */
export type SwapResult = { version: string } | { refused: "version" | "pin" };

/**
 * A pin older than this is not trusted by a publish (the sweep may end pins older than
 * {@linkcode PIN_TTL_MS}); the store pins again.
 */
export const PIN_TRUST_MS = 30_000;
/** The sweep ends pins older than this whose session does not use their blob. */
export const PIN_TTL_MS = 120_000;
/** When sending the outbox failed, the alarm tries again this much later. */
const RETRY_MS = 10_000;

interface MetaRow {
  id: string;
  prefix: string;
  json: string;
  version: string;
  blob: string;
  owner: string | null;
  generation: string | null;
  expires_at: number;
}

const TABLES = [
  "CREATE TABLE meta (k INTEGER PRIMARY KEY CHECK (k = 0), id TEXT, prefix TEXT, json TEXT, version TEXT, blob TEXT, owner TEXT, generation TEXT, expires_at INTEGER)",
  "CREATE TABLE events (generation TEXT, position INTEGER, event TEXT, data TEXT, PRIMARY KEY (generation, position))",
  "CREATE TABLE lease (k INTEGER PRIMARY KEY CHECK (k = 0), owner TEXT, expires_at INTEGER)",
];

/** See the module comment. */
export class SessionRecord {
  readonly #storage: ObjectStorage;
  readonly #outbox: Outbox;
  #tables = false;

  /** The session object over `storage`; `links` reach the other objects. */
  constructor(storage: ObjectStorage, links: Links) {
    this.#storage = storage;
    this.#outbox = new Outbox(storage, links);
  }

  /** The session's metadata and version, or undefined (never published, deleted or expired). */
  async read(): Promise<VersionedMeta | undefined> {
    const row = await this.#current();
    return row && { meta: JSON.parse(row.json), version: row.version };
  }

  /** The blob the session uses, if it exists (the sweep asks, to end a stale pin). */
  async blobOf(): Promise<string | undefined> {
    return (await this.#current())?.blob;
  }

  /** Publishes `request.meta` with its events if the version is still `request.expected`. */
  async swap(request: SwapRequest): Promise<SwapResult> {
    const { meta, expected, events, pin, pinnedAt, ttlMs, prefix } = request;
    const session = meta.id;
    const sql = this.#storage.sql;
    const result = this.#storage.transactionSync((): SwapResult => {
      this.#create();
      this.#expire();
      const old = this.#row();
      const refused = old?.version !== expected
        ? "version"
        : Date.now() - pinnedAt > PIN_TRUST_MS
        ? "pin"
        : undefined;
      if (refused) {
        this.#outbox.add({ prefix, session, kind: "unpin", blob: meta.blob, pin });
        return { refused };
      }
      const version = crypto.randomUUID();
      const generation = meta.generation?.id ?? null;
      run(
        sql,
        "INSERT OR REPLACE INTO meta VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?)",
        session,
        prefix,
        JSON.stringify(meta),
        version,
        meta.blob,
        meta.owner ?? null,
        generation,
        meta.updatedAt + ttlMs,
      );
      if (generation !== null) {
        if (old?.generation !== generation) run(sql, "DELETE FROM events WHERE generation != ?", generation);
        for (const e of events) {
          run(
            sql,
            "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)",
            generation,
            e.position,
            e.event,
            e.data,
          );
        }
      }
      this.#outbox.add({ prefix, session, kind: "settle", blob: meta.blob, pin });
      if (old && old.blob !== meta.blob) this.#outbox.add({ prefix, session, kind: "drop", blob: old.blob });
      if (old?.owner && old.owner !== meta.owner) {
        this.#outbox.add({ prefix, session, kind: "disown", owner: old.owner });
      }
      if (meta.owner) {
        const { owner, stateBytes: bytes, updatedAt } = meta;
        this.#outbox.add({ prefix, session, kind: "own", owner, bytes, updatedAt });
      }
      return { version };
    });
    await this.#send();
    return result;
  }

  /** Deletes the session, its events and lease; returns whether it existed. */
  async remove(): Promise<boolean> {
    if (!this.#exists()) return false;
    const existed = this.#storage.transactionSync(() => {
      this.#expire();
      const row = this.#row();
      if (row) this.#delete(row);
      return row !== undefined;
    });
    await this.#send();
    return existed;
  }

  /** The events of generation `generationId` after position `after`, in order. */
  events(generationId: string, after: number): StoredEvent[] {
    if (!this.#exists()) return [];
    return rows<StoredEvent>(
      this.#storage.sql,
      "SELECT position, event, data FROM events WHERE generation = ? AND position > ? ORDER BY position",
      generationId,
      after,
    );
  }

  /** Takes the lease for `ttlMs` if it is free, expired or already `owner`'s. */
  async acquire(owner: string, ttlMs: number): Promise<boolean> {
    const held = this.lease();
    if (held && held.owner !== owner) return false;
    const expiresAt = Date.now() + ttlMs;
    this.#storage.transactionSync(() => {
      this.#create();
      run(this.#storage.sql, "INSERT OR REPLACE INTO lease VALUES (0, ?, ?)", owner, expiresAt);
    });
    // A lease on no session: the alarm deletes the object's storage once it expires.
    if (!this.#row()) await this.#storage.setAlarm(expiresAt + 1);
    return true;
  }

  /** Gives the lease back if `owner` holds it. */
  release(owner: string): void {
    if (this.#exists()) run(this.#storage.sql, "DELETE FROM lease WHERE owner = ?", owner);
  }

  /** The lease, if one is held and not expired. */
  lease(): Lease | undefined {
    if (!this.#exists()) return undefined;
    const row = first<{ owner: string; expires_at: number }>(
      this.#storage.sql,
      "SELECT owner, expires_at FROM lease",
    );
    return row && row.expires_at > Date.now() ? { owner: row.owner, expiresAt: row.expires_at } : undefined;
  }

  /** The object's alarm: deletes the session if its TTL passed, and sends what the outbox holds. */
  async alarm(): Promise<void> {
    if (!this.#exists()) return;
    this.#storage.transactionSync(() => this.#expire());
    await this.#outbox.send();
    await this.#settle();
  }

  async #current(): Promise<MetaRow | undefined> {
    const row = this.#exists() ? this.#row() : undefined;
    if (!this.#expired(row)) return row;
    this.#storage.transactionSync(() => this.#expire());
    await this.#send();
    return undefined;
  }

  // Whether the tables exist (a read of a session never written stores nothing).
  #exists(): boolean {
    this.#tables ||=
      first(this.#storage.sql, "SELECT 1 FROM sqlite_master WHERE name = 'meta'") !== undefined;
    return this.#tables;
  }

  #create(): void {
    if (this.#exists()) return;
    for (const table of TABLES) run(this.#storage.sql, table);
    this.#outbox.create();
    this.#tables = true;
  }

  #row(): MetaRow | undefined {
    return first<MetaRow>(this.#storage.sql, "SELECT * FROM meta");
  }

  #expired(row: MetaRow | undefined): boolean {
    return row !== undefined && Date.now() > row.expires_at;
  }

  // Deletes the session if its TTL has passed (inside the caller's transaction).
  #expire(): void {
    const row = this.#row();
    if (this.#expired(row)) this.#delete(row!);
  }

  #delete(row: MetaRow): void {
    const sql = this.#storage.sql;
    run(sql, "DELETE FROM meta");
    run(sql, "DELETE FROM events");
    run(sql, "DELETE FROM lease");
    const { id: session, prefix } = row;
    this.#outbox.add({ prefix, session, kind: "drop", blob: row.blob });
    if (row.owner) this.#outbox.add({ prefix, session, kind: "disown", owner: row.owner });
  }

  // Sends the outbox now; if that fails, the alarm (set first) tries again.
  async #send(): Promise<void> {
    await this.#storage.setAlarm(Date.now() + RETRY_MS);
    try {
      await this.#outbox.send();
      await this.#settle();
    } catch (err) {
      console.error(`sending a session's outbox failed (the alarm retries in ${RETRY_MS} ms):`, err);
    }
  }

  // With the outbox sent, the alarm goes off when the session (or a lease on none) expires; an
  // object left with nothing deletes its storage. No await before the last storage call: no other
  // call slips in between what was checked and what is done.
  #settle(): Promise<void> {
    if (this.#outbox.pending()) return this.#storage.setAlarm(Date.now());
    const until = this.#row()?.expires_at ?? this.lease()?.expiresAt;
    if (until !== undefined) return this.#storage.setAlarm(until + 1);
    this.#tables = false;
    return Promise.all([this.#storage.deleteAlarm(), this.#storage.deleteAll()]).then(() => {});
  }
}
