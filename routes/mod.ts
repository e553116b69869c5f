/**
 * HTTP routes (Hono): OpenAI-compatible /v1/models, /v1/completions and
 * /v1/chat/completions, and the /v1/sessions API. Adapts
 * engine event streams to SSE or JSON; computes nothing itself.
 *
 * @module
 */

import { Hono } from "hono";
import { apiKeyAuth } from "./auth.ts";
import { chatRoutes } from "./chat.ts";
import { completionRoutes } from "./completions.ts";
import { errorBody, onError } from "./errors.ts";
import { modelRoutes } from "./models.ts";
import type { ServedModels } from "./served.ts";
import { sessionRoutes } from "./sessions.ts";

export { ApiError, onError } from "./errors.ts";
export { DEFAULT_LIMITS, type Limits } from "./schemas.ts";
export type { ServedModels } from "./served.ts";

/** The whole HTTP app over a set of loaded models. */
export function createApp(served: ServedModels): Hono {
  const app = new Hono();
  app.onError(onError);
  app.notFound((c) =>
    c.json(errorBody(`No route for ${c.req.method} ${c.req.path}`, "invalid_request_error"), 404)
  );
  app.get("/", (c) => c.json({ status: "ok", models: [...served.models.keys()] }));
  app.use("/v1/*", apiKeyAuth(served.apiKeys));
  modelRoutes(app, served);
  completionRoutes(app, served);
  chatRoutes(app, served);
  sessionRoutes(app, served);
  return app;
}
