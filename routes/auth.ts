import type { Context, MiddlewareHandler } from "hono";
import { clientPrincipal, keyPrincipal, type Principal } from "../engine/mod.ts";
import { errorJson } from "./errors.ts";
import type { AppEnv } from "./served.ts";

/**
 * Authenticates every /v1 request and records who it is (`c.get("principal")`). With `keys`, it
 * requires `Authorization: Bearer KEY` (the scheme in any case, RFC 7235) naming one of them, and
 * the key is the principal: it sees only its own sessions. With none, the server is open and a
 * client is known by its address, for quotas only.
 */
export function apiKeyAuth(keys: ReadonlySet<string>): MiddlewareHandler<AppEnv> {
  const principals = new Map<string, Promise<Principal>>([...keys].map((k) => [k, keyPrincipal(k)]));
  return async (c, next) => {
    if (keys.size === 0) {
      c.set("principal", clientPrincipal(clientAddress(c)));
      return await next();
    }
    const key = bearerKey(c);
    const principal = key === undefined ? undefined : principals.get(key);
    if (!principal) {
      return errorJson(
        c,
        401,
        "Missing or wrong API key: send Authorization: Bearer KEY",
        "invalid_request_error",
        null,
        "invalid_api_key",
      );
    }
    c.set("principal", await principal);
    await next();
  };
}

/** Whether the request carries one of `keys` (always true when there are none). */
export function hasValidKey(c: Context, keys: ReadonlySet<string>): boolean {
  if (keys.size === 0) return true;
  const key = bearerKey(c);
  return key !== undefined && keys.has(key);
}

/** The key of an `Authorization: Bearer KEY` header (the scheme in any case, RFC 7235), if there is one. */
function bearerKey(c: Context): string | undefined {
  return (c.req.header("authorization") ?? "").match(/^bearer[ \t]+(\S+)[ \t]*$/i)?.[1];
}

/** The peer's address as the runtime reports it (Deno.serve passes it as the handler's second argument). */
function clientAddress(c: Context<AppEnv>): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return env?.remoteAddr?.hostname ?? "local";
}
