// How the store and its objects reach each other: the three Durable Object namespaces (bindings),
// a stub per call (workerd ties a stub to the request that made it), and the blob shard a blob id
// names.
import type { BlobShard } from "./blob_shard.ts";
import type { OwnerIndex } from "./owner_index.ts";
import type { SessionRecord } from "./session_record.ts";

/** What an object's method looks like through a stub: the same arguments, the result as a promise. */
export type Remote<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** A Durable Object namespace binding, as far as the store uses it. */
export interface ObjectNamespace<T> {
  /** The id of the object named `name`. */
  idFromName(name: string): unknown;
  /** A stub that calls the object `id` names. */
  get(id: unknown): Remote<T>;
}

/** The store's bindings (wrangler.toml `[[durable_objects.bindings]]`). */
export interface StoreBindings {
  /** One object per session: its metadata, version, events and lease. */
  readonly sessions: ObjectNamespace<SessionRecord>;
  /** `blobShards` objects holding the blobs' chunks and who uses each blob. */
  readonly blobs: ObjectNamespace<BlobShard>;
  /** One object per owner: its sessions and their bytes (for quotas). */
  readonly owners: ObjectNamespace<OwnerIndex>;
}

/**
 * Stubs to the store's objects, made fresh for each call. Every object's name starts with
 * `prefix`, so stores with different prefixes share bindings and nothing else.
 */
export class Links {
  /** Links over `bindings`, with blobs spread over `blobShards` shards. */
  constructor(readonly bindings: StoreBindings, readonly blobShards: number, readonly prefix = "") {
    if (!Number.isInteger(blobShards) || blobShards < 1) {
      throw new RangeError(`blobShards must be a positive integer, got ${blobShards}`);
    }
  }

  /** Session `id`'s object. */
  session(id: string): Remote<SessionRecord> {
    const ns = this.bindings.sessions;
    return ns.get(ns.idFromName(this.prefix + id));
  }

  /** The same links under another prefix. */
  withPrefix(prefix: string): Links {
    return prefix === this.prefix ? this : new Links(this.bindings, this.blobShards, prefix);
  }

  /** Blob shard `n`. */
  shard(n: number): Remote<BlobShard> {
    const ns = this.bindings.blobs;
    return ns.get(ns.idFromName(`${this.prefix}shard-${n}`));
  }

  /** The shard holding blob `blobId`, or undefined when the id names none (never a blob of this store). A shard
   * past `blobShards` is still reached: the count may grow, never shrink (the sweep visits only those). */
  shardOf(blobId: string): Remote<BlobShard> | undefined {
    const n = /^(\d+)\./.exec(blobId)?.[1];
    return n === undefined ? undefined : this.shard(Number(n));
  }

  /** Owner `owner`'s object. */
  owner(owner: string): Remote<OwnerIndex> {
    const ns = this.bindings.owners;
    return ns.get(ns.idFromName(this.prefix + owner));
  }

  /** A new blob id, naming a shard picked at random. */
  newBlobId(): string {
    const n = crypto.getRandomValues(new Uint32Array(1))[0] % this.blobShards;
    return `${n}.${crypto.randomUUID()}`;
  }
}
