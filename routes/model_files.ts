import type { Context, Hono } from "hono";
import { ApiError } from "./errors.ts";
import { type AppEnv, pickModel, type ServedModels } from "./served.ts";

/**
 * GET /v1/models/{id}/files (a list) and GET /v1/models/{id}/files/{name}: a served model's files,
 * for a browser that assembles the same model locally (the playground's "Continue here"). Each
 * file's URL carries the model's fingerprint (`?v=`): asked with the current one, the answer is
 * cacheable for a year (the fingerprint changes with the weights); without it, the browser
 * revalidates by ETag and gets 304 while the model is unchanged.
 */
export function modelFileRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  // Model ids may hold slashes, so one pattern takes /v1/models/… and the path's end tells what is
  // asked; anything else goes on to the model routes.
  app.get("/v1/models/:rest{.+}", async (c, next) => {
    const m = c.req.param("rest").match(/^(.+)\/files(?:\/([^/]+))?$/);
    if (!m) return await next();
    const id = m[1];
    return m[2] === undefined ? list(c, id) : await file(c, id, m[2]);
  });

  function list(c: Context<AppEnv>, id: string) {
    const { loaded, files } = filesOf(served, id);
    const base = `/v1/models/${loaded.id}/files`;
    return c.json({
      object: "list",
      model: loaded.id,
      fingerprint: loaded.fingerprint,
      data: files.map((f) => ({
        name: f.name,
        bytes: f.size,
        url: `${base}/${encodeURIComponent(f.name)}?v=${version(loaded.fingerprint)}`,
      })),
    });
  }

  async function file(c: Context<AppEnv>, id: string, name: string) {
    const { loaded, files } = filesOf(served, id);
    const file = files.find((f) => f.name === name);
    if (!file) {
      const names = files.map((f) => f.name).join(", ");
      throw new ApiError(404, `Model "${loaded.id}" has no file "${name}"; it serves ${names}`, "name");
    }
    const etag = `"${version(loaded.fingerprint)}-${file.size}-${encodeURIComponent(file.name)}"`;
    const pinned = c.req.query("v") === version(loaded.fingerprint);
    const headers: Record<string, string> = {
      etag,
      "cache-control": pinned ? "private, max-age=31536000, immutable" : "private, no-cache",
    };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    const body = await file.open();
    return c.body(body as ReadableStream<Uint8Array<ArrayBuffer>>, 200, {
      ...headers,
      "content-type": "application/octet-stream",
      "content-length": String(file.size),
    });
  }
}

// The model and its files; 404 for an unknown model, or one whose files this deployment does not serve.
function filesOf(served: ServedModels, id: string) {
  const loaded = pickModel(served, id);
  const files = served.modelFiles?.get(loaded.id);
  if (!files) {
    throw new ApiError(404, `This server does not serve the files of model "${loaded.id}"`, "model");
  }
  return { loaded, files };
}

// A short form of the fingerprint that names this version of the model's files.
function version(fingerprint: string): string {
  return fingerprint.slice(0, 16);
}
