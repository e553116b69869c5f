// What the Durable Object store's objects use of their storage (`ctx.storage` in workerd): its
// SQLite database, synchronous transactions and the object's alarm. Typed here so the objects'
// logic needs no Cloudflare types.

/** A value SQLite hands back (workerd gives a BLOB as an ArrayBuffer). */
export type SqlValue = string | number | null | ArrayBuffer | Uint8Array;

/** The rows of one statement. */
export interface SqlCursor {
  /** Every row, as column name → value. */
  toArray(): Record<string, SqlValue>[];
}

/** The object's SQLite database (`ctx.storage.sql`). */
export interface SqlStorage {
  /** Runs one statement with `?` bindings. */
  exec(query: string, ...bindings: unknown[]): SqlCursor;
}

/** The parts of `ctx.storage` the objects use. */
export interface ObjectStorage {
  /** The object's SQLite database. */
  readonly sql: SqlStorage;
  /** Runs `fn` as one transaction: all its writes land, or none. */
  transactionSync<T>(fn: () => T): T;
  /** Wakes the object (its `alarm()`) at Unix ms `at`, replacing any alarm set before. */
  setAlarm(at: number): Promise<void>;
  /** Cancels the alarm. */
  deleteAlarm(): Promise<void>;
  /** Deletes everything the object stores (its tables included). */
  deleteAll(): Promise<void>;
}

/** The rows of `query`, typed by the caller. */
export function rows<T>(sql: SqlStorage, query: string, ...bindings: unknown[]): T[] {
  return sql.exec(query, ...bindings).toArray() as T[];
}

/** The first row of `query`, or undefined. */
export function first<T>(sql: SqlStorage, query: string, ...bindings: unknown[]): T | undefined {
  return rows<T>(sql, query, ...bindings)[0];
}

/** A BLOB column's bytes (ArrayBuffer in workerd, Uint8Array elsewhere). */
export function blobBytes(value: SqlValue): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`Expected a BLOB column, got ${typeof value}`);
}

/** Runs a statement that returns no rows, to the end. */
export function run(sql: SqlStorage, query: string, ...bindings: unknown[]): void {
  sql.exec(query, ...bindings).toArray();
}
