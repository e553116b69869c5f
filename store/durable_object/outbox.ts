// A session object's outbox: what its changes must tell other objects (a blob shard, an owner),
// written in the same transaction as the change and sent after it, in order, one sender at a
// time. Every job is idempotent, so one sent twice (a crash after sending, before deleting it)
// does no harm. The session object's alarm sends what a crash left here.
import type { Links } from "./links.ts";
import { first, type ObjectStorage, rows, run } from "./sql.ts";

/** One message to another object, on behalf of session `session` of the store under `prefix`. */
export type Job =
  & { readonly prefix: string; readonly session: string }
  & (
    /** The publish that pinned `blob` landed: the session uses it. */
    | { readonly kind: "settle"; readonly blob: string; readonly pin: string }
    /** The publish that pinned `blob` was refused. */
    | { readonly kind: "unpin"; readonly blob: string; readonly pin: string }
    /** The session no longer uses `blob`. */
    | { readonly kind: "drop"; readonly blob: string }
    /** The session belongs to `owner` and holds `bytes` since `updatedAt`. */
    | { readonly kind: "own"; readonly owner: string; readonly bytes: number; readonly updatedAt: number }
    /** The session no longer belongs to `owner`. */
    | { readonly kind: "disown"; readonly owner: string }
  );

interface JobRow {
  seq: number;
  job: string;
}

/** See the module comment. */
export class Outbox {
  readonly #storage: ObjectStorage;
  readonly #links: Links;
  #sending: Promise<void> = Promise.resolve();

  /** An outbox in `storage` whose jobs go through `links`. */
  constructor(storage: ObjectStorage, links: Links) {
    this.#storage = storage;
    this.#links = links;
  }

  /** Creates the outbox's table (inside the caller's transaction). */
  create(): void {
    run(
      this.#storage.sql,
      "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT)",
    );
  }

  /** Adds a job (inside the caller's transaction, with the change it reports). */
  add(job: Job): void {
    run(this.#storage.sql, "INSERT INTO outbox (job) VALUES (?)", JSON.stringify(job));
  }

  /** Whether jobs wait to be sent. */
  pending(): boolean {
    return first(this.#storage.sql, "SELECT 1 FROM outbox LIMIT 1") !== undefined;
  }

  /** Sends every job, in order, after any send already under way; rejects at the first that fails. */
  send(): Promise<void> {
    const sending = this.#sending.then(() => this.#drain());
    this.#sending = sending.catch(() => {});
    return sending;
  }

  async #drain(): Promise<void> {
    const sql = this.#storage.sql;
    for (const row of rows<JobRow>(sql, "SELECT seq, job FROM outbox ORDER BY seq")) {
      await this.#run(JSON.parse(row.job));
      run(sql, "DELETE FROM outbox WHERE seq = ?", row.seq);
    }
  }

  async #run(job: Job): Promise<void> {
    const links = this.#links.withPrefix(job.prefix);
    switch (job.kind) {
      case "settle":
      case "unpin": {
        const ref = { blob: job.blob, session: job.session, pin: job.pin };
        const shard = links.shardOf(job.blob);
        return await (job.kind === "settle" ? shard?.settle(ref) : shard?.unpin(ref));
      }
      case "drop":
        return await links.shardOf(job.blob)?.drop(job.blob, job.session);
      case "own":
        return await links.owner(job.owner).own(job.session, job.bytes, job.updatedAt);
      case "disown":
        return await links.owner(job.owner).disown(job.session);
    }
  }
}
