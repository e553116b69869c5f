import type { Context, MiddlewareHandler } from "hono";
import { clientPrincipal, keyPrincipal, type Principal } from "../engine/mod.ts";
import { errorJson } from "./errors.ts";
import { verifyStreamToken } from "./stream_token.ts";
import { type AppEnv, decodeSegment } from "./served.ts";

/**
 * Authenticates every /v1 request and records who it is (`c.get("principal")`). With `keys`, it
 * requires `Authorization: Bearer KEY` (the scheme in any case, RFC 7235) naming one of them, and
 * the key is the principal: it sees only its own sessions. With none, the server is open and a
 * client is known by its address, for quotas only.
 */
export function apiKeyAuth(keys: ReadonlySet<string>): MiddlewareHandler<AppEnv> {
  const principals = new Map<string, Promise<Principal>>([...keys].map((k) => [k, keyPrincipal(k)]));
  const keysByPrincipal = Promise.all([...principals].map(async ([k, p]) => [(await p).id, k] as const))
    .then((pairs) => new Map(pairs));
  return async (c, next) => {
    if (keys.size === 0) {
      c.set("principal", clientPrincipal(clientAddress(c)));
      return await next();
    }
    const key = bearerKey(c);
    const principal = key === undefined
      ? await tokenPrincipal(c, await keysByPrincipal)
      : await principals.get(key);
    if (!principal) {
      return errorJson(
        c,
        401,
        "Missing or wrong API key: send Authorization: Bearer KEY (or, on a session stream, a current ?token= from POST /v1/sessions/{id}/stream_token)",
        "invalid_request_error",
        null,
        "invalid_api_key",
      );
    }
    c.set("principal", principal);
    await next();
  };
}

/**
 * The principal of a signed stream token (`?token=`), accepted only on the session stream it
 * was issued for: a browser's EventSource cannot send an Authorization header.
 */
async function tokenPrincipal(c: Context, keysByPrincipal: ReadonlyMap<string, string>) {
  const token = c.req.query("token");
  const segment = c.req.path.match(/^\/v1\/sessions\/([^/]+)\/stream$/)?.[1];
  const session = segment === undefined ? undefined : decodeSegment(segment);
  if (c.req.method !== "GET" || token === undefined || session === undefined) return undefined;
  return await verifyStreamToken(token, session, keysByPrincipal, Date.now() / 1000);
}

/** Whether the request carries one of `keys` (always true when there are none). */
export function hasValidKey(c: Context, keys: ReadonlySet<string>): boolean {
  if (keys.size === 0) return true;
  const key = bearerKey(c);
  return key !== undefined && keys.has(key);
}

/** The key of an `Authorization: Bearer KEY` header (the scheme in any case, RFC 7235), if there is one. */
export function bearerKey(c: Context): string | undefined {
  return (c.req.header("authorization") ?? "").match(/^bearer[ \t]+(\S+)[ \t]*$/i)?.[1];
}

/** The peer's address as the runtime reports it (Deno.serve passes it as the handler's second argument). */
function clientAddress(c: Context<AppEnv>): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return env?.remoteAddr?.hostname ?? "local";
}
