/**
 * Per-principal quotas on what the store keeps: live sessions and their
 * stored bytes, counted from the store's owner index (so every instance
 * sharing a store sees the same counts). A check and the write it guards are
 * not one transaction: concurrent creates may overshoot by their number.
 *
 * @module
 */

import type { StateStore } from "../store/types.ts";
import { QuotaExceededError } from "./errors.ts";
import type { Principal } from "./principal.ts";

/** Limits per principal; 0 means unlimited. */
export interface SessionQuota {
  /** Most live sessions. */
  readonly sessions: number;
  /** Most bytes of state blobs over its live sessions (a fork counts its shared blob again). */
  readonly bytes: number;
}

/** Seconds a client over a storage quota is told to wait: sessions go only when deleted or expired. */
const STORAGE_RETRY_AFTER = 60;

/** Throws QuotaExceededError unless `who` may add `sessions` sessions holding `bytes` more bytes. */
export async function checkQuota(
  store: StateStore,
  who: Principal,
  bytes: number,
  quota: SessionQuota | undefined,
  sessions = 1,
): Promise<void> {
  if (!quota || (quota.sessions === 0 && quota.bytes === 0)) return;
  const used = await store.usage(who.id);
  if (quota.sessions > 0 && sessions > 0 && used.sessions + sessions > quota.sessions) {
    throw new QuotaExceededError(
      `Session quota reached: ${used.sessions} live sessions of at most ${quota.sessions}; ` +
        "delete some with DELETE /v1/sessions/{id} or wait for them to expire",
      STORAGE_RETRY_AFTER,
    );
  }
  if (quota.bytes > 0 && bytes > 0 && used.bytes + bytes > quota.bytes) {
    throw new QuotaExceededError(
      `Storage quota reached: ${used.bytes} bytes stored, ${bytes} more would pass the limit of ` +
        `${quota.bytes}; delete sessions with DELETE /v1/sessions/{id} or wait for them to expire`,
      STORAGE_RETRY_AFTER,
    );
  }
}
