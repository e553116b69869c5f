/**
 * HTTP routes (Hono): OpenAI-compatible /v1/models, /v1/completions and
 * /v1/chat/completions, the /v1/sessions API, /tokenize and /detokenize. Adapts
 * engine event streams to SSE or JSON; computes nothing itself.
 *
 * @module
 */

import { Hono } from "hono";
import { apiKeyAuth } from "./auth.ts";
import { chatRoutes } from "./chat.ts";
import { completionRoutes } from "./completions.ts";
import { errorJson, onError } from "./errors.ts";
import { modelFileRoutes } from "./model_files.ts";
import { modelRoutes } from "./models.ts";
import { playgroundRoutes } from "./playground.ts";
import { rateLimit } from "./rate_limit.ts";
import { corsFor } from "./cors.ts";
import { operationRoutes } from "./operations.ts";
import { streamTokenRoutes } from "./stream_token.ts";
import { requestLog } from "./request_log.ts";
import { type AppEnv, type ServedModels } from "./served.ts";
import { sessionRoutes } from "./sessions.ts";
import { tokenizeRoutes } from "./tokenize.ts";

export { ApiError, onError } from "./errors.ts";
export { DEFAULT_LIMITS, type Limits } from "./schemas.ts";
export { type AppEnv, decodeSegment, type ServedModels } from "./served.ts";
export type { Playground, PlaygroundAsset } from "./playground.ts";
export type { LogFormat } from "./request_log.ts";

/** The whole HTTP app over a set of loaded models. */
export function createApp(served: ServedModels): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError(onError);
  app.use("*", requestLog(served.log ?? "off"));
  app.use("*", corsFor(served.corsOrigins ?? new Set()));
  app.notFound((c) =>
    errorJson(c, 404, `No route for ${c.req.method} ${c.req.path}`, "invalid_request_error")
  );
  // The playground page for browsers; for other clients, that it is up (and, with a key, its models).
  playgroundRoutes(app, served);
  const auth = apiKeyAuth(served.apiKeys);
  const limit = rateLimit(served.limits.requestsPerMinute);
  for (const path of ["/v1/*", "/tokenize", "/detokenize"]) app.use(path, auth, limit);
  operationRoutes(app, served);
  modelFileRoutes(app, served); // before modelRoutes: its pattern would take /files too
  modelRoutes(app, served);
  completionRoutes(app, served);
  chatRoutes(app, served);
  sessionRoutes(app, served);
  streamTokenRoutes(app, served);
  tokenizeRoutes(app, served);
  return app;
}
