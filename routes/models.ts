import type { Hono } from "hono";
import type { AppEnv, ServedModels } from "./served.ts";

/** GET /v1/models: the loaded models in OpenAI's list shape. */
export function modelRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: [...served.models.values()].map((m) => ({
        id: m.id,
        object: "model",
        created: served.createdAt,
        owned_by: "recurrent-edge",
        family: m.family,
        vocab_size: m.model.info.vocabSize,
        state_bytes: m.model.info.stateSize * 4,
      })),
    }));
}
