import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { metrics } from "../engine/mod.ts";
import { type AppEnv, watchHangup } from "./served.ts";

/** How requests are logged: one line each as text or JSON, or not at all. */
export type LogFormat = "text" | "json" | "off";

/** An incoming `x-request-id` kept as this request's id (a proxy's); anything else is replaced. */
const INCOMING_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * The first middleware: gives the request an id (the caller's `x-request-id` if it is a sane
 * token, else a new UUID) sent back in `x-request-id`, watches for a hang-up, counts the request
 * in the metrics by route and status, and logs one line for it once its answer starts
 * (method, path, route, status, duration, request id, and the session id when there is one).
 */
export function requestLog(
  format: LogFormat,
  write: (line: string) => void = console.log,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header("x-request-id");
    const id = incoming && INCOMING_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", id);
    c.set("hangup", watchHangup(c.req.raw));
    c.header("x-request-id", id);
    metrics.inFlight.inc();
    try {
      await next();
    } finally {
      metrics.inFlight.inc({}, -1);
    }
    const route = routeOf(c);
    const status = c.res.status;
    const ms = performance.now() - started;
    metrics.requests.inc({ method: c.req.method, route, status: String(status) });
    metrics.requestSeconds.observe(ms / 1000, { route });
    if (format === "off") return;
    const session = c.get("sessionId") ?? c.req.path.match(/^\/v1\/sessions\/([^/]+)/)?.[1];
    const line = {
      time: new Date().toISOString(),
      method: c.req.method,
      path: c.req.path,
      route,
      status,
      duration_ms: Math.round(ms * 10) / 10,
      request_id: id,
      ...(session ? { session_id: session } : {}),
    };
    write(
      format === "json"
        ? JSON.stringify(line)
        : `${line.time} ${line.method} ${line.path} ${status} ${line.duration_ms} ms request_id=${id}` +
          (session ? ` session_id=${session}` : ""),
    );
  };
}

/** The route pattern that answered (`/v1/sessions/:id`), or "unmatched": a bounded set of labels. */
function routeOf(c: Context): string {
  const path = routePath(c, -1);
  return path && !path.includes("*") ? path : "unmatched";
}
