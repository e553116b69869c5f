/**
 * Durable session storage behind one interface (StateStore): Deno KV (a local
 * file, or Deno Deploy's KV), Redis (shared by many instances, with live
 * fan-out), Cloudflare Durable Objects (for the Workers entry) and memory. Stores opaque blobs and metadata; does not know what a
 * model or a token is.
 *
 * @module
 */

export { DenoKvStore, type DenoKvStoreOptions, openDenoKvStore } from "./deno_kv.ts";
export { DurableObjectStore, type DurableObjectStoreOptions, type StoreBindings } from "./durable_object.ts";
export { MemoryStore, type MemoryStoreOptions } from "./memory.ts";
export { openRedisStore, RedisStore, type RedisStoreOptions } from "./redis.ts";
export {
  BlobMissingError,
  type GenerationRecord,
  type Lease,
  type LiveFeed,
  type LiveSubscription,
  type SessionMeta,
  SessionNotFoundError,
  type StateStore,
  type StoredEvent,
  type VersionedMeta,
} from "./types.ts";
