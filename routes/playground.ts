import type { Hono } from "hono";
import { hasValidKey } from "./auth.ts";
import { errorJson } from "./errors.ts";
import type { AppEnv, ServedModels } from "./served.ts";

/** One file of the playground page (its script, the local engine's bundle, the WASM kernels). */
export interface PlaygroundAsset {
  /** Its bytes or text. */
  readonly body: Uint8Array<ArrayBuffer> | string;
  /** Its media type. */
  readonly type: string;
}

/** The playground page and the files it loads, handed in by the runtime's adapter. */
export interface Playground {
  /** The page's HTML. */
  readonly page: string;
  /** Files under /playground/, by name. */
  readonly assets: ReadonlyMap<string, PlaygroundAsset>;
}

/**
 * GET / answers a browser (Accept: text/html) with the playground page and other clients with the
 * service's status as JSON; GET /playground/{name} serves the page's files, revalidated by ETag.
 * The page holds no secret: with API keys, the user types theirs into it.
 */
export function playgroundRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  const { playground } = served;
  app.get("/", (c) => {
    if (playground && (c.req.header("accept") ?? "").includes("text/html")) {
      return c.html(playground.page, 200, { "cache-control": "no-cache" });
    }
    return hasValidKey(c, served.apiKeys)
      ? c.json({ status: "ok", models: [...served.models.keys()] })
      : c.json({ status: "ok" });
  });
  if (!playground) return;
  const etags = new Map<string, Promise<string>>();
  app.get("/playground/:name", async (c) => {
    const name = c.req.param("name");
    const asset = playground.assets.get(name);
    if (!asset) return errorJson(c, 404, `No playground file "${name}"`, "invalid_request_error");
    let etag = etags.get(name);
    if (!etag) etags.set(name, etag = digest(asset.body));
    const headers = { etag: await etag, "cache-control": "no-cache", "content-type": asset.type };
    if (c.req.header("if-none-match") === headers.etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, headers);
  });
}

async function digest(body: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `"${[...hash.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")}"`;
}
