/**
 * Which sessions a principal can reach: ids of the shape this service issues,
 * and, for a principal bound to an API key, only the sessions it created.
 *
 * @module
 */

import { SessionNotFoundError, type StateStore, type VersionedMeta } from "../store/types.ts";
import type { Principal } from "./principal.ts";

/** The shape of every session id this service issues: 128 random bits, hex. */
const SESSION_ID = /^[0-9a-f]{32}$/;

/** A new session's id: 128 random bits, hex. */
export function newSessionId(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The session `id` as `who` may see it. An id of another shape (never issued, and possibly past the
 * store's key limits) and, when `who` is exclusive, another principal's session do not exist:
 * SessionNotFoundError (HTTP 404, never 403: an id's existence is not confirmed).
 */
export async function findSession(store: StateStore, id: string, who: Principal): Promise<VersionedMeta> {
  if (!SESSION_ID.test(id)) throw new SessionNotFoundError(id.length > 40 ? `${id.slice(0, 40)}…` : id);
  const found = await store.get(id);
  if (!found || (who.exclusive && found.meta.owner !== who.id)) throw new SessionNotFoundError(id);
  return found;
}
