// One owner's sessions, inside the owner's Durable Object: what quotas count. Each session's own
// object keeps its row here up to date (through its outbox), so the row follows every publish,
// deletion and expiry of that session.
import { first, type ObjectStorage, run } from "./sql.ts";

/** See the module comment. */
export class OwnerIndex {
  readonly #storage: ObjectStorage;

  /** Opens the owner's table (created on first use). */
  constructor(storage: ObjectStorage) {
    this.#storage = storage;
    run(
      storage.sql,
      "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, bytes INTEGER, updated_at INTEGER)",
    );
  }

  /** Session `session` belongs to this owner and holds `bytes` since `updatedAt` (Unix ms). */
  own(session: string, bytes: number, updatedAt: number): void {
    run(this.#storage.sql, "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", session, bytes, updatedAt);
  }

  /** Session `session` is gone, or belongs to another owner now. */
  disown(session: string): void {
    run(this.#storage.sql, "DELETE FROM sessions WHERE id = ?", session);
  }

  /** The sessions updated within `ttlMs`, and their bytes. */
  usage(ttlMs: number): { sessions: number; bytes: number } {
    const row = first<{ sessions: number; bytes: number }>(
      this.#storage.sql,
      "SELECT count(*) AS sessions, coalesce(sum(bytes), 0) AS bytes FROM sessions WHERE updated_at >= ?",
      Date.now() - ttlMs,
    );
    return { sessions: row?.sessions ?? 0, bytes: row?.bytes ?? 0 };
  }
}
