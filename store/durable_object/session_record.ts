// One session, inside its own Durable Object: its metadata and version (compare-and-swap is a
// plain check, the object being single-threaded), its generations' events, its lease, and an
// outbox. Whatever a publish or a deletion must tell other objects (the blob shard: the new blob
// is used, the old one is not; the owner: bytes and count) is written to the outbox in the same
// transaction as the change, then sent; the object's alarm sends what a crash left unsent, and
// deletes the session once its TTL has passed.
import type { Lease, SessionMeta, StoredEvent, VersionedMeta } from "../types.ts";
import type { Links } from "./links.ts";
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
  prefix: string;
  json: string;
  version: string;
  blob: string;
  owner: string | null;
  expires_at: number;
}

interface Job {
  seq: number;
  prefix: string;
  kind: "settle" | "unpin" | "drop" | "own" | "disown";
  session: string;
  blob: string | null;
  pin: string | null;
  owner: string | null;
  bytes: number | null;
  updated_at: number | null;
}

/** See the module comment. */
export class SessionRecord {
  readonly #storage: ObjectStorage;
  readonly #links: Links;
  #sending: Promise<void> = Promise.resolve();

  /** Opens the session's tables (created on first use); `links` reach the other objects. */
  constructor(storage: ObjectStorage, links: Links) {
    this.#storage = storage;
    this.#links = links;
    const sql = storage.sql;
    run(
      sql,
      "CREATE TABLE IF NOT EXISTS meta (k INTEGER PRIMARY KEY CHECK (k = 0), prefix TEXT, json TEXT, version TEXT, blob TEXT, owner TEXT, expires_at INTEGER)",
    );
    run(
      sql,
      "CREATE TABLE IF NOT EXISTS events (generation TEXT, position INTEGER, event TEXT, data TEXT, PRIMARY KEY (generation, position))",
    );
    run(
      sql,
      "CREATE TABLE IF NOT EXISTS lease (k INTEGER PRIMARY KEY CHECK (k = 0), owner TEXT, expires_at INTEGER)",
    );
    run(
      sql,
      "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, prefix TEXT, kind TEXT, session TEXT, blob TEXT, pin TEXT, owner TEXT, bytes INTEGER, updated_at INTEGER)",
    );
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
    const sql = this.#storage.sql;
    const result = this.#storage.transactionSync((): SwapResult => {
      this.#expire();
      const old = this.#row();
      const refused = old?.version !== expected
        ? "version"
        : Date.now() - pinnedAt > PIN_TRUST_MS
        ? "pin"
        : "";
      if (refused) {
        this.#enqueue({ prefix, kind: "unpin", session: meta.id, blob: meta.blob, pin });
        return { refused };
      }
      const version = crypto.randomUUID();
      run(
        sql,
        "INSERT OR REPLACE INTO meta VALUES (0, ?, ?, ?, ?, ?, ?)",
        prefix,
        JSON.stringify(meta),
        version,
        meta.blob,
        meta.owner ?? null,
        meta.updatedAt + ttlMs,
      );
      for (const e of events) {
        const generation = meta.generation!.id;
        run(
          sql,
          "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)",
          generation,
          e.position,
          e.event,
          e.data,
        );
      }
      this.#enqueue({ prefix, kind: "settle", session: meta.id, blob: meta.blob, pin });
      if (old && old.blob !== meta.blob) {
        this.#enqueue({ prefix, kind: "drop", session: meta.id, blob: old.blob });
      }
      if (old?.owner && old.owner !== meta.owner) {
        this.#enqueue({ prefix, kind: "disown", session: meta.id, owner: old.owner });
      }
      if (meta.owner) {
        const { owner, stateBytes: bytes, updatedAt } = meta;
        this.#enqueue({ prefix, kind: "own", session: meta.id, owner, bytes, updated_at: updatedAt });
      }
      return { version };
    });
    await this.#sendSafely();
    return result;
  }

  /** Deletes the session, its events and lease; returns whether it existed. */
  async remove(): Promise<boolean> {
    const existed = this.#storage.transactionSync(() => {
      this.#expire();
      const row = this.#row();
      if (row) this.#delete(row);
      return row !== undefined;
    });
    await this.#sendSafely();
    return existed;
  }

  /** The events of generation `generationId` after position `after`, in order. */
  events(generationId: string, after: number): StoredEvent[] {
    return rows<StoredEvent>(
      this.#storage.sql,
      "SELECT position, event, data FROM events WHERE generation = ? AND position > ? ORDER BY position",
      generationId,
      after,
    );
  }

  /** Takes the lease for `ttlMs` if it is free, expired or already `owner`'s. */
  acquire(owner: string, ttlMs: number): boolean {
    const held = this.lease();
    if (held && held.owner !== owner) return false;
    run(this.#storage.sql, "INSERT OR REPLACE INTO lease VALUES (0, ?, ?)", owner, Date.now() + ttlMs);
    return true;
  }

  /** Gives the lease back if `owner` holds it. */
  release(owner: string): void {
    run(this.#storage.sql, "DELETE FROM lease WHERE owner = ?", owner);
  }

  /** The lease, if one is held and not expired. */
  lease(): Lease | undefined {
    const row = first<{ owner: string; expires_at: number }>(
      this.#storage.sql,
      "SELECT owner, expires_at FROM lease",
    );
    return row && row.expires_at > Date.now() ? { owner: row.owner, expiresAt: row.expires_at } : undefined;
  }

  /** The object's alarm: deletes the session if its TTL passed, and sends what the outbox holds. */
  async alarm(): Promise<void> {
    this.#storage.transactionSync(() => this.#expire());
    await this.#send();
  }

  async #current(): Promise<MetaRow | undefined> {
    if (!this.#expired(this.#row())) return this.#row();
    this.#storage.transactionSync(() => this.#expire());
    await this.#sendSafely();
    return undefined;
  }

  #row(): MetaRow | undefined {
    return first<MetaRow>(
      this.#storage.sql,
      "SELECT prefix, json, version, blob, owner, expires_at FROM meta",
    );
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
    const id = (JSON.parse(row.json) as SessionMeta).id;
    run(sql, "DELETE FROM meta");
    run(sql, "DELETE FROM events");
    run(sql, "DELETE FROM lease");
    this.#enqueue({ prefix: row.prefix, kind: "drop", session: id, blob: row.blob });
    if (row.owner) this.#enqueue({ prefix: row.prefix, kind: "disown", session: id, owner: row.owner });
  }

  #enqueue(job: Partial<Job> & Pick<Job, "prefix" | "kind" | "session">): void {
    run(
      this.#storage.sql,
      "INSERT INTO outbox (prefix, kind, session, blob, pin, owner, bytes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      job.prefix,
      job.kind,
      job.session,
      job.blob ?? null,
      job.pin ?? null,
      job.owner ?? null,
      job.bytes ?? null,
      job.updated_at ?? null,
    );
  }

  // Sends the outbox now; if that fails, the alarm (set first) tries again.
  async #sendSafely(): Promise<void> {
    await this.#storage.setAlarm(Date.now() + RETRY_MS);
    await this.#send().catch((err) => console.error("sending a session's outbox failed (retried):", err));
  }

  // Sends the outbox's jobs in order, one sender at a time, then sets the alarm to the expiry.
  #send(): Promise<void> {
    const sending = this.#sending.then(() => this.#drain());
    this.#sending = sending.catch(() => {});
    return sending;
  }

  async #drain(): Promise<void> {
    const sql = this.#storage.sql;
    for (const job of rows<Job>(sql, "SELECT * FROM outbox ORDER BY seq")) {
      await this.#run(job);
      run(sql, "DELETE FROM outbox WHERE seq = ?", job.seq);
    }
    const row = this.#row();
    if (first(sql, "SELECT 1 FROM outbox LIMIT 1")) await this.#storage.setAlarm(Date.now());
    else if (row && Number.isFinite(row.expires_at)) await this.#storage.setAlarm(row.expires_at + 1);
    else await this.#storage.deleteAlarm();
  }

  async #run(job: Job): Promise<void> {
    const links = this.#links.withPrefix(job.prefix);
    const ref = { blob: job.blob!, session: job.session, pin: job.pin! };
    switch (job.kind) {
      case "settle":
        return await links.shardOf(job.blob!)?.settle(ref);
      case "unpin":
        return await links.shardOf(job.blob!)?.unpin(ref);
      case "drop":
        return await links.shardOf(job.blob!)?.drop(job.blob!, job.session);
      case "own":
        return await links.owner(job.owner!).own(job.session, job.bytes!, job.updated_at!);
      case "disown":
        return await links.owner(job.owner!).disown(job.session);
    }
  }
}
