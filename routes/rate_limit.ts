import type { MiddlewareHandler } from "hono";
import { errorJson } from "./errors.ts";
import type { AppEnv } from "./served.ts";

/** Principals whose buckets are kept at once; past this, full buckets are forgotten. */
const MAX_TRACKED = 10_000;

/**
 * Requests per minute per principal, as a token bucket (a burst of `perMinute`, refilled evenly):
 * 429 with `Retry-After` when empty. Counted per instance. `perMinute` 0: unlimited.
 */
export function rateLimit(perMinute: number, now: () => number = Date.now): MiddlewareHandler<AppEnv> {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refill = (b: { tokens: number; at: number }, t: number) => {
    b.tokens = Math.min(perMinute, b.tokens + (t - b.at) * perMinute / 60_000);
    b.at = t;
  };
  return async (c, next) => {
    if (perMinute === 0) return await next();
    const t = now();
    const id = c.get("principal").id;
    let bucket = buckets.get(id);
    if (!bucket) {
      if (buckets.size >= MAX_TRACKED) {
        for (const [k, b] of buckets) {
          refill(b, t);
          if (b.tokens >= perMinute) buckets.delete(k);
        }
      }
      bucket = { tokens: perMinute, at: t };
      buckets.set(id, bucket);
    }
    refill(bucket, t);
    if (bucket.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - bucket.tokens) * 60 / perMinute));
      c.header("Retry-After", String(wait));
      return errorJson(
        c,
        429,
        `Rate limit reached: at most ${perMinute} requests per minute; retry in ${wait} s`,
        "rate_limit_error",
        null,
        "rate_limit_exceeded",
      );
    }
    bucket.tokens -= 1;
    await next();
  };
}
