import type { MiddlewareHandler } from "hono";
import { errorBody } from "./errors.ts";

/** Requires `Authorization: Bearer KEY` with one of `keys` on every /v1 route; none: open. */
export function apiKeyAuth(keys: ReadonlySet<string>): MiddlewareHandler {
  return async (c, next) => {
    if (keys.size === 0) return await next();
    const header = c.req.header("authorization") ?? "";
    const key = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    if (!keys.has(key)) {
      return c.json(
        errorBody(
          "Missing or wrong API key: send Authorization: Bearer KEY",
          "invalid_request_error",
          null,
          "invalid_api_key",
        ),
        401,
      );
    }
    await next();
  };
}
