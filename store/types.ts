/** Where a session's current or last generation stands; enough for any instance to resume it. */
export interface GenerationRecord {
  /** Unguessable id of this generation. */
  readonly id: string;
  /** "running" until the last event is logged. A running generation whose lease expired was cut by a crash. */
  readonly status: "running" | "done";
  /** Session position of the first generated token. */
  readonly start: number;
  /** The validated request, as the engine needs it to regenerate after a crash (JSON). */
  readonly request: unknown;
  /** Session position the stored state has reached (the last checkpoint). */
  readonly checkpoint: number;
  /** Text held back at the checkpoint (a possible stop-string prefix), restored on resume. */
  readonly heldText: string;
  /** Why it ended, once done ("stop" or "length"). */
  readonly finishReason?: string;
}

/** What the store keeps about a session besides its state blob. */
export interface SessionMeta {
  /** The session id (128 random bits, hex). */
  readonly id: string;
  /** The model id. */
  readonly model: string;
  /** The model's weight fingerprint. */
  readonly fingerprint: string;
  /**
   * Opaque id of the principal that created the session (an API key's hash, or a client address
   * when the server has no keys); quotas count against it, and with keys only it may use the session.
   */
  readonly owner?: string;
  /** Tokens the session holds (at its last published state). */
  readonly tokens: number;
  /** Size of the state blob. */
  readonly stateBytes: number;
  /** Unix ms. */
  readonly createdAt: number;
  /** Unix ms of the last publish (the TTL counts from it). */
  readonly updatedAt: number;
  /** The blob holding this session's state (blobs are immutable and may be shared by forks). */
  readonly blob: string;
  /** The current or last generation. */
  readonly generation?: GenerationRecord;
}

/** A session as read: its metadata and an opaque version for compare-and-swap. */
export interface VersionedMeta {
  /** The session. */
  readonly meta: SessionMeta;
  /** Opaque version for compare-and-swap. */
  readonly version: string;
}

/** One logged generation event (the SSE payload is the engine's JSON). */
export interface StoredEvent {
  /** Session position of the token (or of the end, for the final event). */
  readonly position: number;
  /**
   * SSE event name. `paused` (a run reached its token budget, its state checkpointed) and `error`
   * reach live followers only; the log holds tokens and the final `done`.
   */
  readonly event: "token" | "done" | "error" | "paused";
  /** SSE data (JSON). */
  readonly data: string;
}

/** A lease that serializes generations on one session. */
export interface Lease {
  /** Who holds it (one token per generation). */
  readonly owner: string;
  /** Unix ms after which the lease is void (its holder crashed or stalled). */
  readonly expiresAt: number;
}

/**
 * Live fan-out of running generations' events to followers on every instance, as each is
 * produced. Not durable and best effort: a follower that misses an event falls back to the
 * event log, which stays the only source of truth for replay.
 */
export interface LiveFeed {
  /** Announces an event of generation `generationId` of session `id` (callers need not wait). */
  announce(id: string, generationId: string, event: StoredEvent): Promise<void>;
  /** Follows the events announced for one generation, from its first. */
  subscribe(id: string, generationId: string): LiveSubscription;
}

/** One follower's view of a {@linkcode LiveFeed}. */
export interface LiveSubscription {
  /**
   * The events announced since the previous call (since the generation began, on the first),
   * waiting up to `waitMs` for one; empty if none came.
   */
  next(waitMs: number): Promise<StoredEvent[]>;
  /** Releases what the subscription holds (a connection). */
  close(): void;
}

/**
 * Durable session storage. Every implementation (Deno KV, memory, Redis, Durable
 * Objects) keeps these promises:
 * - a state blob is written whole before it is published, and published with
 *   one atomic swap of the session's metadata checked against its version, so
 *   readers see the old state or the new one, never a mix;
 * - blobs are immutable and shared between forks; one no session uses is deleted;
 * - sessions not updated within the store's TTL disappear.
 */
export interface StateStore {
  /** The session's metadata and version, or undefined if it does not exist (or expired). */
  get(id: string): Promise<VersionedMeta | undefined>;
  /** Writes an immutable blob; returns its id. Not visible to readers until published. */
  putBlob(blob: Uint8Array): Promise<string>;
  /** The bytes of a blob. */
  readBlob(blobId: string): Promise<Uint8Array>;
  /**
   * Publishes `meta` (pointing at an already written blob) and appends `events`, in one atomic step,
   * if the session's version is still `expected` (undefined: the session must not exist yet).
   * Returns the new version, or undefined when the check failed; throws BlobMissingError when
   * `meta.blob` is not whole in the store (checked atomically with the publish, so a concurrent
   * collection of that blob either sees the new user or makes this publish fail). The blob the
   * session used before is collected if no other session uses it.
   */
  publish(
    meta: SessionMeta,
    expected: string | undefined,
    events?: readonly StoredEvent[],
  ): Promise<string | undefined>;
  /** Deletes a session (its blob too, unless a fork uses it). Returns whether it existed. */
  delete(id: string): Promise<boolean>;
  /** The events of generation `generationId` after position `after` (all if undefined), in order. */
  readEvents(id: string, generationId: string, after?: number): Promise<StoredEvent[]>;
  /** Takes the session's lease for `ttlMs` if it is free, expired or already `owner`'s. */
  acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease back if `owner` holds it. */
  releaseLease(id: string, owner: string): Promise<void>;
  /** The current lease, if one is held and not expired. */
  lease(id: string): Promise<Lease | undefined>;
  /**
   * Deletes blobs no session uses that are older than `graceMs` (left by an expired session, or
   * by a crash between writing a blob and publishing it). Returns how many were deleted.
   */
  sweep(graceMs: number): Promise<number>;
  /**
   * The live (not expired) sessions whose `owner` is `owner`, and the sum of their `stateBytes`:
   * what per-principal quotas count.
   */
  usage(owner: string): Promise<{ sessions: number; bytes: number }>;
  /** Releases resources (closes files). */
  close(): void;
  /** Live fan-out across instances, where the store offers one (others poll the event log). */
  readonly live?: LiveFeed;
}

/**
 * A blob that is not whole in the store: never written, still being written, or collected because
 * no session used it (a fork can race the checkpoint that moves its parent on).
 */
export class BlobMissingError extends Error {
  /** Builds the error for blob `blobId`. */
  constructor(blobId: string) {
    super(
      `State blob ${blobId} is not in the store (collected or never written): read the session again and retry`,
    );
    this.name = "BlobMissingError";
  }
}

/** A session that does not exist (or expired). */
export class SessionNotFoundError extends Error {
  /** Builds the error for session `id`. */
  constructor(id: string) {
    super(`Session ${id} does not exist (or expired): create one with POST /v1/sessions`);
    this.name = "SessionNotFoundError";
  }
}
