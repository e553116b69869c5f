// One blob shard, inside its Durable Object: the chunks of the blobs whose ids name this shard, each
// blob's state, and the references that keep a blob alive. Single-threaded like every Durable
// Object, and every method runs to its end without awaiting, so a pin and a collection of the
// same blob never interleave: either the pin lands first (the collection sees it and keeps the
// blob), or the collection does (the pin finds the blob gone).
import { blobBytes, first, type ObjectStorage, rows, run, type SqlValue } from "./sql.ts";

/** A blob's size, given with every part written. */
export interface BlobSize {
  /** Chunks in all. */
  readonly chunks: number;
  /** Bytes in all. */
  readonly bytes: number;
}

/** Chunks `first`… of a whole blob, as read. */
export interface BlobPart extends BlobSize {
  /** The chunks read (fewer than asked at the end). */
  readonly data: Uint8Array[];
}

/** A publish in flight: `pin` holds `blob` for `session` until the session settles or drops it. */
export interface PinRef {
  readonly blob: string;
  readonly session: string;
  readonly pin: string;
}

/** The pin of a session's published blob (a reference row whose pin is ''). */
const HELD = "";

/** See the module comment. */
export class BlobShard {
  readonly #storage: ObjectStorage;

  /** Opens the shard's tables (created on first use). */
  constructor(storage: ObjectStorage) {
    this.#storage = storage;
    const sql = storage.sql;
    // state: 'writing' until the last chunk is in, then 'whole'.
    run(
      sql,
      "CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, state TEXT, chunks INTEGER, bytes INTEGER, created_at INTEGER)",
    );
    run(sql, "CREATE TABLE IF NOT EXISTS chunks (blob TEXT, i INTEGER, data BLOB, PRIMARY KEY (blob, i))");
    // pin '' : session uses blob (published); any other pin: a publish of it in flight since `at`.
    run(
      sql,
      "CREATE TABLE IF NOT EXISTS refs (blob TEXT, session TEXT, pin TEXT, at INTEGER, PRIMARY KEY (blob, session, pin))",
    );
  }

  /**
   * Writes chunks `start`… of blob `blobId` (`start` 0 creates it; the part holding the last
   * chunk makes it whole). False when the blob is gone (a sweep collected a write that stalled).
   */
  write(blobId: string, start: number, chunks: readonly Uint8Array[], size: BlobSize): boolean {
    const sql = this.#storage.sql;
    return this.#storage.transactionSync(() => {
      const blob = first<{ state: string }>(sql, "SELECT state FROM blobs WHERE id = ?", blobId);
      if (start === 0 && blob) throw new Error(`Blob ${blobId} is written twice: blob ids must be new`);
      if (start === 0) {
        run(
          sql,
          "INSERT INTO blobs VALUES (?, 'writing', ?, ?, ?)",
          blobId,
          size.chunks,
          size.bytes,
          Date.now(),
        );
      } else if (blob?.state !== "writing") return false;
      chunks.forEach((c, k) => run(sql, "INSERT INTO chunks VALUES (?, ?, ?)", blobId, start + k, c));
      if (start + chunks.length >= size.chunks) {
        run(sql, "UPDATE blobs SET state = 'whole' WHERE id = ?", blobId);
      }
      return true;
    });
  }

  /** Up to `count` chunks of whole blob `blobId` from chunk `start`; undefined if it is not whole. */
  read(blobId: string, start: number, count: number): BlobPart | undefined {
    const sql = this.#storage.sql;
    const size = first<BlobSize & { state: string }>(
      sql,
      "SELECT state, chunks, bytes FROM blobs WHERE id = ?",
      blobId,
    );
    if (size?.state !== "whole") return undefined;
    const data = rows<{ data: SqlValue }>(
      sql,
      "SELECT data FROM chunks WHERE blob = ? AND i >= ? AND i < ? ORDER BY i",
      blobId,
      start,
      start + count,
    ).map((r) => blobBytes(r.data));
    return { chunks: size.chunks, bytes: size.bytes, data };
  }

  /** Holds whole blob `blobId` for a publish of `session`; returns when (Unix ms), or undefined if it is not whole. */
  pin(ref: PinRef): number | undefined {
    if (!this.#whole(ref.blob)) return undefined;
    const at = Date.now();
    run(
      this.#storage.sql,
      "INSERT OR REPLACE INTO refs VALUES (?, ?, ?, ?)",
      ref.blob,
      ref.session,
      ref.pin,
      at,
    );
    return at;
  }

  /** The publish holding `ref` landed: the session now uses the blob. */
  settle(ref: PinRef): void {
    const sql = this.#storage.sql;
    this.#storage.transactionSync(() => {
      run(sql, "INSERT OR IGNORE INTO refs VALUES (?, ?, ?, ?)", ref.blob, ref.session, HELD, Date.now());
      run(sql, "DELETE FROM refs WHERE blob = ? AND session = ? AND pin = ?", ref.blob, ref.session, ref.pin);
    });
  }

  /** The publish holding `ref` failed its check: the hold goes (the blob stays until a sweep). */
  unpin(ref: PinRef): void {
    const { blob, session, pin } = ref;
    run(this.#storage.sql, "DELETE FROM refs WHERE blob = ? AND session = ? AND pin = ?", blob, session, pin);
  }

  /** Session `session` no longer uses blob `blobId`; the blob is deleted if nothing else holds it. */
  drop(blobId: string, session: string): void {
    const sql = this.#storage.sql;
    this.#storage.transactionSync(() => {
      run(sql, "DELETE FROM refs WHERE blob = ? AND session = ? AND pin = ?", blobId, session, HELD);
      this.#collect(blobId);
    });
  }

  /** Publishes in flight for longer than `olderThanMs` (their publisher may have died). */
  stalePins(olderThanMs: number): PinRef[] {
    return rows<PinRef>(
      this.#storage.sql,
      "SELECT blob, session, pin FROM refs WHERE pin != ? AND at < ?",
      HELD,
      Date.now() - olderThanMs,
    );
  }

  /**
   * Ends a stale pin whose session does not use its blob (its publish died, or was refused and the
   * unpin never came), deleting the blob if nothing else holds it.
   */
  endPin(ref: PinRef): void {
    this.#storage.transactionSync(() => {
      this.unpin(ref);
      this.#collect(ref.blob);
    });
  }

  /** Deletes the blobs nothing holds that were created more than `graceMs` ago; returns how many. */
  sweep(graceMs: number): number {
    const sql = this.#storage.sql;
    return this.#storage.transactionSync(() => {
      const unused = rows<{ id: string }>(
        sql,
        "SELECT id FROM blobs WHERE created_at <= ? AND id NOT IN (SELECT blob FROM refs)",
        Date.now() - graceMs,
      );
      for (const { id } of unused) this.#delete(id);
      return unused.length;
    });
  }

  /** Blobs stored, whole or not (for tests that nothing is left behind). */
  count(): number {
    return first<{ n: number }>(this.#storage.sql, "SELECT count(*) AS n FROM blobs")!.n;
  }

  #whole(blobId: string): boolean {
    const blob = first<{ state: string }>(this.#storage.sql, "SELECT state FROM blobs WHERE id = ?", blobId);
    return blob?.state === "whole";
  }

  // Deletes a whole blob nothing holds (one still being written is left to the sweep).
  #collect(blobId: string): void {
    const held = first(this.#storage.sql, "SELECT 1 FROM refs WHERE blob = ? LIMIT 1", blobId);
    if (!held && this.#whole(blobId)) this.#delete(blobId);
  }

  #delete(blobId: string): void {
    run(this.#storage.sql, "DELETE FROM chunks WHERE blob = ?", blobId);
    run(this.#storage.sql, "DELETE FROM blobs WHERE id = ?", blobId);
  }
}
