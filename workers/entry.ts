/**
 * The Cloudflare Workers entry: the same Hono app as `main.ts`, on workerd. The embedded default
 * model and the WASM kernels are bundled with the Worker (wrangler.toml's module rules); models
 * named by `R2_MODELS` come from the `MODELS` bucket; all are assembled once per isolate, on its
 * first request (./serve.ts). A request naming a model that did not fit the memory budget is
 * answered 503 with the reason.
 *
 * Sessions live in Durable Objects (store/durable_object.ts, the classes in ./durable_objects.ts)
 * when wrangler.toml binds them, so they outlive any isolate; without the bindings, in the
 * isolate's memory. A session's generations run in its host object (./session_host.ts, the
 * `HOSTS` binding): the Worker forwards its generate, stream and cancel requests, and chat
 * completions on a session, there. A cron
 * trigger sweeps blobs no session uses.
 *
 * @module
 */

import { DurableObjectStore } from "../store/durable_object.ts";
import type { ObjectNamespace } from "../store/durable_object/links.ts";
import {
  openStore,
  type ServedModels,
  servedModels,
  sessionService,
  startFailed,
  workerApp,
  type WorkerEnv,
} from "./serve.ts";
import { hostedSession, type SessionHostObject } from "./session_host.ts";
import { storeBindings } from "./durable_objects.ts";

export { BlobShardObject, OwnerObject, SessionObject } from "./durable_objects.ts";
export { SessionHostObject } from "./session_host.ts";

/** The Worker's env: the deployment's variables and bindings, and the session hosts. */
interface Env extends WorkerEnv {
  readonly HOSTS?: ObjectNamespace<SessionHostObject> & {
    get(id: unknown): { fetch(request: Request): Promise<Response> };
  };
}

/** Blobs younger than this are never swept (a publish may be about to use them), as on Deno. */
const SWEEP_GRACE_MS = 10 * 60 * 1000;

let app: Promise<ReturnType<typeof workerApp>> | undefined;

async function start(env: Env) {
  const served = await servedModels(env);
  return workerApp(env, served, sessionService(env, served));
}

/**
 * A 503 for a request naming a model refused for the memory budget (the body's `model`, or
 * `?model=`), else undefined. Reads a copy of the body: the app reads the original.
 */
async function refusal(
  request: Request,
  served: ServedModels,
): Promise<Response | undefined> {
  if (served.refused.size === 0) return undefined;
  let model = new URL(request.url).searchParams.get("model") ?? undefined;
  if (
    !model && request.method === "POST" &&
    request.headers.get("content-type")?.includes("json")
  ) {
    model = await request.clone().json().then(
      (b) => (typeof b?.model === "string" ? b.model : undefined),
      () => undefined,
    );
  }
  const err = model === undefined ? undefined : served.refused.get(model);
  if (!err) return undefined;
  const error = {
    message: err.message,
    type: "server_error",
    param: "model",
    code: "model_too_large",
  };
  return Response.json({ error }, {
    status: 503,
    headers: { "retry-after": "3600" },
  });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    let served: ServedModels;
    try {
      served = await servedModels(env);
    } catch (err) {
      return startFailed(err);
    }
    const refused = await refusal(request, served);
    if (refused) return refused;
    // Hosts share sessions through the Durable Object store; without it each would keep its own.
    const hosted = env.HOSTS && storeBindings(env) ? await hostedSession(request) : undefined;
    if (hosted) return env.HOSTS!.get(env.HOSTS!.idFromName(hosted.id)).fetch(request);
    app ??= start(env).catch((err) => {
      app = undefined;
      throw err;
    });
    return (await app).fetch(request);
  },

  /** The cron trigger: deletes blobs no session uses (left by a crash between write and publish). */
  async scheduled(_controller: unknown, env: Env): Promise<void> {
    const store = openStore(env);
    if (store instanceof DurableObjectStore) {
      console.log(`swept ${await store.sweep(SWEEP_GRACE_MS)} blobs`);
    }
  },
};
