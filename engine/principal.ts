/**
 * Who is asking: the identity a new session belongs to and quotas count
 * against, and whether that identity may only see its own sessions.
 *
 * @module
 */

/** The identity behind a request, as the routes authenticated it. */
export interface Principal {
  /** Owner id new sessions get, and the subject quotas count against (never a raw API key). */
  readonly id: string;
  /** Only this principal's sessions exist for it (true when it authenticated with an API key). */
  readonly exclusive: boolean;
}

/** An id a key can be known by in the store and logs: `key:` + the first 16 bytes of its SHA-256, hex. */
export async function keyPrincipal(key: string): Promise<Principal> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  const hex = [...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { id: `key:${hex}`, exclusive: true };
}

/** A client of a server without API keys, known by its address: it sees every session, quotas count per address. */
export function clientPrincipal(address: string): Principal {
  return { id: `client:${address}`, exclusive: false };
}
