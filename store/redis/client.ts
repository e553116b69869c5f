/**
 * A Redis client over one pipelined connection, opened on first use and again after it is lost
 * (a command in flight when it drops fails; the next one reconnects). Runs Lua scripts by their
 * SHA1, loading them on first use.
 *
 * @module
 */

import { type RedisAddress, RedisConnection } from "./connection.ts";
import { type Arg, RedisError, type Reply } from "./resp.ts";

/** A Lua script and its SHA1 (what EVALSHA names it by). */
export interface LuaScript {
  /** The Lua source. */
  readonly source: string;
  /** Lowercase hex SHA1 of the source. */
  readonly sha: string;
}

/** Prepares a Lua script to run with {@linkcode RedisClient.eval}. */
export async function luaScript(source: string): Promise<LuaScript> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(source));
  return { source, sha: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("") };
}

/** See the module documentation. */
export class RedisClient {
  #conn: Promise<RedisConnection> | undefined;
  #closed = false;

  /** A client for the Redis at `address` (nothing is opened yet); `scripts` are loaded on each connection. */
  constructor(readonly address: RedisAddress, readonly scripts: readonly LuaScript[] = []) {}

  /** Runs a command; a RedisError for an error reply. */
  async call(...args: Arg[]): Promise<Reply> {
    return await (await this.#connection()).call(args);
  }

  /** Runs commands pipelined (one round trip); the replies in order, error replies as RedisError values. */
  async pipeline(commands: readonly Arg[][]): Promise<Reply[]> {
    const conn = await this.#connection();
    return await Promise.all(commands.map((c) => conn.send(c)));
  }

  /** Runs `script` with no declared keys and `args` as ARGV (EVALSHA, EVAL the first time). */
  async eval(script: LuaScript, args: readonly Arg[]): Promise<Reply> {
    const conn = await this.#connection();
    const reply = await conn.send(["EVALSHA", script.sha, 0, ...args]);
    if (reply instanceof RedisError && reply.message.startsWith("NOSCRIPT")) {
      return await conn.call(["EVAL", script.source, 0, ...args]);
    }
    if (reply instanceof RedisError) throw reply;
    return reply;
  }

  /** Closes the connection; later calls fail. */
  close(): void {
    this.#closed = true;
    this.#conn?.then((c) => c.close(), () => {});
  }

  async #connection(): Promise<RedisConnection> {
    if (this.#closed) throw new Error("The Redis client is closed");
    const pending = this.#conn ??= this.#open();
    const current = await pending.catch(() => undefined);
    if (current && !current.closed) return current;
    if (this.#conn === pending) this.#conn = this.#open();
    return await this.#conn;
  }

  async #open(): Promise<RedisConnection> {
    const conn = await RedisConnection.open(this.address);
    try {
      for (const script of this.scripts) await conn.call(["SCRIPT", "LOAD", script.source]);
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }
}
