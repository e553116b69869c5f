import { RedisClient } from "./redis/client.ts";
import { parseRedisUrl, type RedisAddress } from "./redis/connection.ts";
import { RedisLiveFeed } from "./redis/live.ts";
import { type Arg, RedisError, type Reply, text } from "./redis/resp.ts";
import { ACQUIRE_LEASE, ALL_SCRIPTS, DELETE, PUBLISH, RELEASE_LEASE, SWEEP_BLOB } from "./redis/scripts.ts";
import {
  BlobMissingError,
  type Lease,
  type SessionMeta,
  type StateStore,
  type StoredEvent,
  type VersionedMeta,
} from "./types.ts";

/** Blobs swept per pipelined round trip. */
const SWEEP_BATCH = 200;

/** Options of {@linkcode openRedisStore}. */
export interface RedisStoreOptions {
  /** Sessions not updated for this long disappear (default 7 days). */
  ttlMs?: number;
  /** Prefix of every key (default "rnn:"), so several deployments can share one Redis. */
  prefix?: string;
}

/**
 * Opens a store on the Redis at `url` (`redis://[:password@]host[:port][/db]`), checking that it
 * answers. The client is our own (store/redis/): RESP2 over Deno.connect, binary-safe.
 */
export async function openRedisStore(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
  const address = parseRedisUrl(url);
  const client = new RedisClient(address, ALL_SCRIPTS);
  try {
    await client.call("PING");
  } catch (err) {
    client.close();
    throw new Error(
      `Redis at ${address.hostname}:${address.port} does not answer: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return new RedisStore(client, address, options);
}

/**
 * StateStore on Redis (a single server, or a primary with replicas). Layout in
 * store/redis/scripts.ts. A blob is one string written whole by one SET (Redis strings hold
 * 512 MB), so it exists whole or not at all; publish, delete and lease changes are Lua scripts,
 * atomic against every other client; sessions, their owner records and events expire with
 * Redis's own expiry, at `updatedAt` + TTL. Blobs left by expired sessions or crashed writes are
 * deleted by `sweep`. Lease expiry is Redis's clock, the same for every instance.
 */
export class RedisStore implements StateStore {
  readonly ttlMs: number;
  readonly prefix: string;
  /** Live fan-out over Redis Streams (announcing on a connection of its own, never behind a big blob). */
  readonly live: RedisLiveFeed;

  /** A store over an open client. */
  constructor(readonly client: RedisClient, address: RedisAddress, options: RedisStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? 7 * 24 * 3600 * 1000;
    this.prefix = options.prefix ?? "rnn:";
    this.live = new RedisLiveFeed(new RedisClient(address), address, this.prefix);
  }

  #key(kind: string, ...parts: string[]): string {
    return `${this.prefix}${kind}:${parts.join(":")}`;
  }

  async get(id: string): Promise<VersionedMeta | undefined> {
    const [metaJson, version] = await this.client.call("HMGET", this.#key("s", id), "meta", "v") as Reply[];
    if (metaJson === null || version === null) return undefined;
    const meta = JSON.parse(text(metaJson)!) as SessionMeta;
    if (Date.now() - meta.updatedAt > this.ttlMs) return undefined;
    return { meta, version: text(version)! };
  }

  async putBlob(blob: Uint8Array): Promise<string> {
    const blobId = crypto.randomUUID();
    const replies = await this.client.pipeline([
      ["MULTI"],
      ["SET", this.#key("b", blobId), blob],
      ["ZADD", `${this.prefix}blobs`, Date.now(), blobId],
      ["EXEC"],
    ]);
    const failed = replies.find((r) => r instanceof RedisError) ??
      (replies[3] === null ? "aborted" : undefined);
    if (failed) throw new Error(`Writing blob ${blobId} failed: ${failed}`);
    return blobId;
  }

  async readBlob(blobId: string): Promise<Uint8Array> {
    const bytes = await this.client.call("GET", this.#key("b", blobId));
    if (!(bytes instanceof Uint8Array)) throw new BlobMissingError(blobId);
    return bytes;
  }

  async publish(
    meta: SessionMeta,
    expected: string | undefined,
    events: readonly StoredEvent[] = [],
  ): Promise<string | undefined> {
    const args: Arg[] = [
      this.prefix,
      meta.id,
      expected ?? "",
      JSON.stringify(meta),
      meta.blob,
      meta.owner ?? "",
      `${meta.stateBytes} ${meta.updatedAt}`,
      meta.updatedAt + this.ttlMs,
      meta.generation?.id ?? "",
    ];
    if (meta.generation) {
      for (const e of events) args.push(e.position, JSON.stringify([e.position, e.event, e.data]));
    }
    const reply = await this.client.eval(PUBLISH, args);
    if (reply === -1) throw new BlobMissingError(meta.blob);
    return reply === 0 ? undefined : text(reply)!;
  }

  async delete(id: string): Promise<boolean> {
    return await this.client.eval(DELETE, [this.prefix, id]) === 1;
  }

  async readEvents(id: string, generationId: string, after = -1): Promise<StoredEvent[]> {
    const key = this.#key("e", id, generationId);
    const members = await this.client.call("ZRANGEBYSCORE", key, `(${after}`, "+inf") as Reply[];
    return members.map((m) => {
      const [position, event, data] = JSON.parse(text(m)!);
      return { position, event, data };
    });
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const ttl = Math.max(1, Math.round(ttlMs));
    return await this.client.eval(ACQUIRE_LEASE, [this.#key("l", id), owner, ttl, Date.now() + ttl]) === 1;
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.client.eval(RELEASE_LEASE, [this.#key("l", id), owner]);
  }

  async lease(id: string): Promise<Lease | undefined> {
    const held = text(await this.client.call("GET", this.#key("l", id)));
    if (held === null) return undefined; // Redis expired it
    const at = held.lastIndexOf(" ");
    return { owner: held.slice(0, at), expiresAt: Number(held.slice(at + 1)) };
  }

  async sweep(graceMs: number): Promise<number> {
    const old = await this.client.call("ZRANGEBYSCORE", `${this.prefix}blobs`, "-inf", Date.now() - graceMs);
    const blobIds = (old as Reply[]).map((b) => text(b)!);
    let n = 0;
    for (let i = 0; i < blobIds.length; i += SWEEP_BATCH) {
      const batch = blobIds.slice(i, i + SWEEP_BATCH);
      const replies = await Promise.all(batch.map((b) => this.client.eval(SWEEP_BLOB, [this.prefix, b])));
      n += replies.filter((r) => r === 1).length;
    }
    return n;
  }

  async usage(owner: string): Promise<{ sessions: number; bytes: number }> {
    const flat = await this.client.call("HGETALL", this.#key("o", owner)) as Reply[];
    let sessions = 0, bytes = 0;
    for (let i = 1; i < flat.length; i += 2) {
      const [b, updatedAt] = text(flat[i])!.split(" ").map(Number);
      if (Date.now() - updatedAt > this.ttlMs) continue;
      sessions++;
      bytes += b;
    }
    return { sessions, bytes };
  }

  /** How many blobs are stored under this store's prefix (for tests that check nothing is left). */
  async storedBlobs(): Promise<number> {
    return ((await this.client.call("KEYS", `${this.prefix}b:*`)) as Reply[]).length;
  }

  close(): void {
    this.client.close();
    this.live.client.close();
  }
}
