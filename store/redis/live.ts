/**
 * Live fan-out on Redis Streams: each event of a running generation is appended (XADD) to a
 * stream of its own, kept 10 minutes after the last event; a follower reads it from the start
 * with XREAD BLOCK on a connection of its own, so it wakes as each event arrives.
 *
 * @module
 */

import type { LiveFeed, LiveSubscription, StoredEvent } from "../types.ts";
import type { RedisClient } from "./client.ts";
import { type RedisAddress, RedisConnection } from "./connection.ts";
import { text } from "./resp.ts";
import type { Reply } from "./resp.ts";

/** How long a generation's stream outlives its last event. */
const STREAM_TTL_MS = 10 * 60 * 1000;
/** Most events one read returns. */
const READ_COUNT = 1000;

/** See the module documentation. */
export class RedisLiveFeed implements LiveFeed {
  /** A feed writing through `client`, reading on new connections to `address`, keys under `prefix`. */
  constructor(
    readonly client: RedisClient,
    readonly address: RedisAddress,
    readonly prefix: string,
  ) {}

  #key(id: string, generationId: string): string {
    return `${this.prefix}x:${id}:${generationId}`;
  }

  async announce(id: string, generationId: string, event: StoredEvent): Promise<void> {
    const key = this.#key(id, generationId);
    const fields = ["p", event.position, "e", event.event, "d", event.data];
    // One pipeline: events of one generation reach Redis in the order they were announced.
    const replies = await this.client.pipeline([["XADD", key, "*", ...fields], [
      "PEXPIRE",
      key,
      STREAM_TTL_MS,
    ]]);
    for (const r of replies) if (r instanceof Error) throw r;
  }

  subscribe(id: string, generationId: string): LiveSubscription {
    return new RedisLiveSubscription(this.address, this.#key(id, generationId));
  }
}

/** A follower of one stream, with its own connection (XREAD BLOCK holds it while waiting). */
class RedisLiveSubscription implements LiveSubscription {
  #conn: Promise<RedisConnection> | undefined;
  #lastId = "0";
  #closed = false;

  constructor(readonly address: RedisAddress, readonly key: string) {}

  async next(waitMs: number): Promise<StoredEvent[]> {
    if (this.#closed) return [];
    this.#conn ??= RedisConnection.open(this.address);
    const conn = await this.#conn;
    if (conn.closed) {
      this.#conn = undefined;
      throw new Error("The live stream's Redis connection was lost");
    }
    const block = Math.max(1, Math.round(waitMs));
    const reply = await conn.call([
      "XREAD",
      "COUNT",
      READ_COUNT,
      "BLOCK",
      block,
      "STREAMS",
      this.key,
      this.#lastId,
    ]);
    return this.#events(reply);
  }

  // XREAD's answer: nil (timeout) or [[key, [[id, [field, value, ...]], ...]]].
  #events(reply: Reply): StoredEvent[] {
    if (!Array.isArray(reply) || reply.length === 0) return [];
    const entries = (reply[0] as Reply[])[1] as Reply[];
    const out: StoredEvent[] = [];
    for (const entry of entries) {
      const [id, fields] = entry as [Reply, Reply[]];
      this.#lastId = text(id)!;
      const f = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) f.set(text(fields[i])!, text(fields[i + 1])!);
      out.push({
        position: Number(f.get("p")),
        event: f.get("e") as StoredEvent["event"],
        data: f.get("d")!,
      });
    }
    return out;
  }

  close(): void {
    this.#closed = true;
    this.#conn?.then((c) => c.close(), () => {});
  }
}
