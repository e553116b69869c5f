import type { SessionService } from "../engine/mod.ts";
import type { LoadedModel } from "../models/mod.ts";
import { ApiError } from "./errors.ts";
import type { Limits } from "./schemas.ts";

/** The models a server answers for, and its limits. */
export interface ServedModels {
  /** The models, by id. */
  readonly models: ReadonlyMap<string, LoadedModel>;
  /** The model used when a request names none. */
  readonly defaultModel: string;
  /** Unix seconds when the server started. */
  readonly createdAt: number;
  /** Request limits. */
  readonly limits: Limits;
  /** Sessions in the store. */
  readonly sessions: SessionService;
  /** Accepted API keys (`Authorization: Bearer KEY`); empty: no authentication. */
  readonly apiKeys: ReadonlySet<string>;
}

/** The model a request asks for (or the default); 404 for an unknown name. */
export function pickModel(served: ServedModels, name: string | undefined): LoadedModel {
  const loaded = served.models.get(name ?? served.defaultModel);
  if (!loaded) {
    throw new ApiError(404, `Model "${name}" is not served here; GET /v1/models lists the models`, "model");
  }
  return loaded;
}
