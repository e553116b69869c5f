/**
 * The Durable Object classes of the session store (store/durable_object.ts), as workerd runs them:
 * each wraps its logic (store/durable_object/) around `ctx.storage` and answers its RPC methods.
 * The Worker's module exports them; wrangler.toml binds them as SESSIONS, BLOBS and OWNERS.
 *
 * @module
 */

import { DurableObject, type DurableObjectState } from "cloudflare:workers";
import { BlobShard, type BlobSize, type PinRef } from "../store/durable_object/blob_shard.ts";
import { Links, type StoreBindings } from "../store/durable_object/links.ts";
import { OwnerIndex } from "../store/durable_object/owner_index.ts";
import { SessionRecord, type SwapRequest } from "../store/durable_object/session_record.ts";
import type { ObjectNamespace } from "../store/durable_object/links.ts";

/** The bindings the store's objects (and the Worker) get. */
export interface StoreEnv {
  readonly SESSIONS: ObjectNamespace<SessionRecord>;
  readonly BLOBS: ObjectNamespace<BlobShard>;
  readonly OWNERS: ObjectNamespace<OwnerIndex>;
  /** Blob shards (default 16); may grow between deployments, never shrink. */
  readonly BLOB_SHARDS?: string;
}

/** The store's bindings out of a Worker's env, or undefined when wrangler.toml declares none. */
export function storeBindings(
  env: Partial<StoreEnv>,
): StoreBindings | undefined {
  if (!env.SESSIONS || !env.BLOBS || !env.OWNERS) return undefined;
  return { sessions: env.SESSIONS, blobs: env.BLOBS, owners: env.OWNERS };
}

/** Blob shards configured by `env` (BLOB_SHARDS), default 16. */
export function blobShards(env: Partial<StoreEnv>): number {
  return Number(env.BLOB_SHARDS) || 16;
}

/** One session: metadata, version, events, lease, outbox (store/durable_object/session_record.ts). */
export class SessionObject extends DurableObject<StoreEnv> {
  readonly #record: SessionRecord;

  /** Opens the session's tables. */
  constructor(ctx: DurableObjectState, env: StoreEnv) {
    super(ctx, env);
    this.#record = new SessionRecord(
      ctx.storage,
      new Links(storeBindings(env)!, blobShards(env)),
    );
  }
  read() {
    return this.#record.read();
  }
  blobOf() {
    return this.#record.blobOf();
  }
  swap(request: SwapRequest) {
    return this.#record.swap(request);
  }
  remove() {
    return this.#record.remove();
  }
  events(generationId: string, after: number) {
    return this.#record.events(generationId, after);
  }
  acquire(owner: string, ttlMs: number) {
    return this.#record.acquire(owner, ttlMs);
  }
  release(owner: string) {
    return this.#record.release(owner);
  }
  lease() {
    return this.#record.lease();
  }
  override alarm() {
    return this.#record.alarm();
  }
}

/** One blob shard: chunks, states and references (store/durable_object/blob_shard.ts). */
export class BlobShardObject extends DurableObject<StoreEnv> {
  readonly #shard: BlobShard;

  /** Opens the shard's tables. */
  constructor(ctx: DurableObjectState, env: StoreEnv) {
    super(ctx, env);
    this.#shard = new BlobShard(ctx.storage);
  }
  write(blobId: string, start: number, chunks: Uint8Array[], size: BlobSize) {
    return this.#shard.write(blobId, start, chunks, size);
  }
  read(blobId: string, start: number, count: number) {
    return this.#shard.read(blobId, start, count);
  }
  pin(ref: PinRef) {
    return this.#shard.pin(ref);
  }
  settle(ref: PinRef) {
    return this.#shard.settle(ref);
  }
  unpin(ref: PinRef) {
    return this.#shard.unpin(ref);
  }
  drop(blobId: string, session: string) {
    return this.#shard.drop(blobId, session);
  }
  stalePins(olderThanMs: number) {
    return this.#shard.stalePins(olderThanMs);
  }
  endPin(ref: PinRef) {
    return this.#shard.endPin(ref);
  }
  sweep(graceMs: number) {
    return this.#shard.sweep(graceMs);
  }
  count() {
    return this.#shard.count();
  }
}

/** One owner's sessions and bytes (store/durable_object/owner_index.ts). */
export class OwnerObject extends DurableObject<StoreEnv> {
  readonly #index: OwnerIndex;

  /** Opens the owner's table. */
  constructor(ctx: DurableObjectState, env: StoreEnv) {
    super(ctx, env);
    this.#index = new OwnerIndex(ctx.storage);
  }
  own(session: string, bytes: number, updatedAt: number) {
    return this.#index.own(session, bytes, updatedAt);
  }
  disown(session: string) {
    return this.#index.disown(session);
  }
  usage(ttlMs: number) {
    return this.#index.usage(ttlMs);
  }
}
