import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "./served.ts";

/**
 * CORS for browser clients on the allowed origins (`*`: any): preflights answered, requests
 * allowed to send `Authorization`, `Content-Type`, `Last-Event-ID` and `x-request-id`, and to read
 * `x-request-id` and `Retry-After`. With no origins, no CORS header is sent: browsers on other
 * origins cannot read answers (the default).
 */
export function corsFor(origins: ReadonlySet<string>): MiddlewareHandler<AppEnv> {
  if (origins.size === 0) return async (_c, next) => await next();
  const any = origins.has("*");
  return cors({
    origin: (origin) => any ? "*" : origins.has(origin) ? origin : null,
    allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Last-Event-ID", "X-Request-Id"],
    exposeHeaders: ["X-Request-Id", "Retry-After"],
    maxAge: 600,
  });
}
