import type { Hono } from "hono";
import { keyPrincipal, type Principal } from "../engine/mod.ts";
import { bearerKey } from "./auth.ts";
import type { AppEnv, ServedModels } from "./served.ts";

/** How long a stream token is good for. */
export const STREAM_TOKEN_TTL_S = 300;

const encoder = new TextEncoder();
const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const fromBase64url = (text: string) =>
  Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (ch) => ch.charCodeAt(0));

/** An HMAC-SHA256 key made from an API key (the token is signed with the key that asked for it). */
function hmacKey(apiKey: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(apiKey), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

/** What a token signs: its purpose, the session and the expiry. */
const signed = (sessionId: string, expires: number) => encoder.encode(`stream:${sessionId}:${expires}`);

/**
 * A token for `GET /v1/sessions/{sessionId}/stream?token=…`, for clients that cannot send headers
 * (a browser's EventSource): `PRINCIPAL.EXPIRES.SIGNATURE`, the principal id (a hash, never the
 * key), a unix time in seconds, and an HMAC of the session id and expiry under the API key that
 * asked. Any instance with the same API_KEYS checks it; nothing is stored.
 */
export async function issueStreamToken(
  apiKey: string,
  sessionId: string,
  expires: number,
): Promise<string> {
  const principal = await keyPrincipal(apiKey);
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", await hmacKey(apiKey), signed(sessionId, expires)),
  );
  return `${principal.id.slice("key:".length)}.${expires}.${base64url(sig)}`;
}

/**
 * The principal a stream token was issued to, if it is well formed, signed by one of `keys` for
 * `sessionId`, and not expired at `now` (unix seconds); undefined otherwise.
 */
export async function verifyStreamToken(
  token: string,
  sessionId: string,
  keys: ReadonlyMap<string, string>,
  now: number,
): Promise<Principal | undefined> {
  const m = token.match(/^([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/);
  if (!m) return undefined;
  const apiKey = keys.get(`key:${m[1]}`);
  const expires = Number(m[2]);
  if (apiKey === undefined || expires <= now) return undefined;
  const ok = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(apiKey),
    fromBase64url(m[3]),
    signed(sessionId, expires),
  );
  return ok ? await keyPrincipal(apiKey) : undefined;
}

/**
 * POST /v1/sessions/{id}/stream_token: for the session's owner, a URL that streams the session
 * without an Authorization header, good for {@linkcode STREAM_TOKEN_TTL_S} seconds. Without
 * API keys the plain URL needs no token, and that is what is returned.
 */
export function streamTokenRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  app.post("/v1/sessions/:id/stream_token", async (c) => {
    const id = c.req.param("id");
    await served.sessions.info(id, c.get("principal")); // 404 unless the session is the caller's
    const path = `/v1/sessions/${encodeURIComponent(id)}/stream`;
    const key = bearerKey(c);
    if (served.apiKeys.size === 0 || key === undefined) {
      return c.json({ object: "stream_token", token: null, expires_at: null, stream_url: path });
    }
    const expires = Math.floor(Date.now() / 1000) + STREAM_TOKEN_TTL_S;
    const token = await issueStreamToken(key, id, expires);
    return c.json({
      object: "stream_token",
      token,
      expires_at: expires,
      stream_url: `${path}?token=${encodeURIComponent(token)}`,
    });
  });
}
