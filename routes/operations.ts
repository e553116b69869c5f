import type { Hono } from "hono";
import { registry } from "../engine/mod.ts";
import { apiKeyAuth } from "./auth.ts";
import type { AppEnv, ServedModels } from "./served.ts";

/** How long /ready waits for the store before calling it unreachable. */
const STORE_PROBE_MS = 2000;

/**
 * For operators: GET /health (the process answers: liveness), GET /ready (models loaded and the
 * store answering, 503 otherwise or while shutting down: readiness) and GET /metrics
 * (Prometheus text format; behind the API key when the server has keys).
 */
export function operationRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  app.get("/health", (c) => c.json({ status: "ok" }));

  app.get("/ready", async (c) => {
    const checks = { models: served.models.size > 0 ? "ok" : "none loaded", store: "ok" };
    try {
      await withTimeout(served.sessions.ping(), STORE_PROBE_MS);
    } catch (err) {
      checks.store = `unreachable: ${err instanceof Error ? err.message : String(err)}`;
    }
    const closing = served.sessions.stopping;
    const ready = checks.models === "ok" && checks.store === "ok" && !closing;
    return c.json(
      { status: ready ? "ready" : closing ? "shutting down" : "not ready", checks },
      ready ? 200 : 503,
    );
  });

  app.get(
    "/metrics",
    apiKeyAuth(served.apiKeys),
    (c) => c.body(registry.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
