import type { Hono } from "hono";
import type { LoadedModel } from "../models/mod.ts";
import { ApiError } from "./errors.ts";
import type { AppEnv, ServedModels } from "./served.ts";

/** GET /v1/models (OpenAI's list shape) and GET /v1/models/{id} (one model, the client's `models.retrieve`). */
export function modelRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  const describe = (m: LoadedModel) => ({
    id: m.id,
    object: "model",
    created: served.createdAt,
    owned_by: "recurrent-edge",
    family: m.family,
    vocab_size: m.model.info.vocabSize,
    state_bytes: m.model.info.stateSize * 4,
    weights: m.weights === "q8" ? "int8" : m.weights ?? "checkpoint",
  });
  app.get("/v1/models", (c) => c.json({ object: "list", data: [...served.models.values()].map(describe) }));
  app.get("/v1/models/:id{.+}", (c) => {
    const id = c.req.param("id");
    const loaded = served.models.get(id);
    if (!loaded) {
      throw new ApiError(404, `Model "${id}" is not served here; GET /v1/models lists the models`, "model");
    }
    return c.json(describe(loaded));
  });
}
