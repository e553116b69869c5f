/**
 * One TCP connection to Redis, pipelined: commands are written in order as they are sent, and
 * replies (which Redis returns in the same order) settle them one by one.
 *
 * @module
 */

import { type Arg, encodeCommand, RedisError, type Reply, ReplyReader } from "./resp.ts";

/** Where Redis is: parsed from `redis://[:password@]host[:port][/db]`. */
export interface RedisAddress {
  /** Host name or address. */
  readonly hostname: string;
  /** TCP port (default 6379). */
  readonly port: number;
  /** Database number (default 0). */
  readonly db: number;
  /** AUTH user, if any. */
  readonly username?: string;
  /** AUTH password, if any. */
  readonly password?: string;
}

/** Parses a `redis://` URL; TypeError if it is not one. */
export function parseRedisUrl(url: string): RedisAddress {
  const u = new URL(url);
  if (u.protocol !== "redis:") throw new TypeError(`Not a redis:// URL: ${url}`);
  const db = u.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d+$/.test(db)) throw new TypeError(`The database in ${url} must be a number`);
  return {
    hostname: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    db: db === "" ? 0 : Number(db),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

/** See the module documentation. */
export class RedisConnection {
  readonly #conn: Deno.TcpConn;
  readonly #waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  #writes: Promise<void> = Promise.resolve();
  #closed: Error | undefined;
  /** Settles when the connection is closed (by either side). */
  readonly done: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.done = this.#readLoop();
  }

  /** Connects, authenticates and selects the database. */
  static async open(address: RedisAddress): Promise<RedisConnection> {
    const conn = await Deno.connect({ hostname: address.hostname, port: address.port });
    conn.setNoDelay(true);
    const c = new RedisConnection(conn);
    try {
      if (address.password !== undefined) {
        const user = address.username ? [address.username] : [];
        await c.call(["AUTH", ...user, address.password]);
      }
      if (address.db !== 0) await c.call(["SELECT", address.db]);
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  /** Whether the connection is closed (a new one is needed). */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Sends a command; resolves with its reply (an error reply too, as a RedisError value). */
  send(args: readonly Arg[]): Promise<Reply> {
    if (this.#closed) return Promise.reject(this.#closed);
    const parts = encodeCommand(args);
    const reply = new Promise<Reply>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#writes = this.#writes.then(() => this.#writeAll(parts)).catch((err) => this.#fail(err));
    return reply;
  }

  /** Sends a command; resolves with its reply, rejects with a RedisError for an error reply. */
  async call(args: readonly Arg[]): Promise<Reply> {
    const reply = await this.send(args);
    if (reply instanceof RedisError) throw reply;
    return reply;
  }

  /** Closes the connection; commands still waiting for replies reject. */
  close(): void {
    this.#fail(new Error("Redis connection closed"));
  }

  async #writeAll(parts: Uint8Array[]): Promise<void> {
    for (const part of parts) {
      for (let at = 0; at < part.length;) at += await this.#conn.write(part.subarray(at));
    }
  }

  async #readLoop(): Promise<void> {
    const reader = new ReplyReader();
    try {
      while (true) {
        const n = await this.#conn.read(reader.space());
        if (n === null) break;
        reader.wrote(n);
        for (let r = reader.next(); r; r = reader.next()) this.#waiting.shift()?.resolve(r.value);
      }
      this.#fail(new Error("Redis closed the connection"));
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = new Error(`Redis connection lost: ${err.message}`, { cause: err });
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    for (const w of this.#waiting.splice(0)) w.reject(this.#closed);
  }
}
