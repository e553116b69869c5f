import type { Context } from "hono";
import type { Principal, SessionService } from "../engine/mod.ts";
import type { LoadedModel, ModelFile } from "../models/mod.ts";
import type { Playground } from "./playground.ts";
import { ApiError } from "./errors.ts";
import type { LogFormat } from "./request_log.ts";
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
  /** Origins browsers may call from (CORS; "*": any); none by default. */
  readonly corsOrigins?: ReadonlySet<string>;
  /** One log line per request, as text or JSON (default "off"). */
  readonly log?: LogFormat;
  /**
   * Aborts when the server shuts down (Deno: the session service's closing signal). Left out on
   * Workers: an isolate is not shut down, and workerd forbids one request listening to a signal
   * made in another's context.
   */
  readonly shutdown?: AbortSignal;
  /** The playground page at `/` and its files (left out: `/` answers JSON only). */
  readonly playground?: Playground;
  /** The files of each model a browser may download to run it locally (GET /v1/models/{id}/files). */
  readonly modelFiles?: ReadonlyMap<string, readonly ModelFile[]>;
}

/** What the app's middleware records on each request. */
export interface AppEnv {
  /** Per-request values. */
  Variables: {
    /** Who is asking (set by the auth middleware on /v1 routes). */
    principal: Principal;
    /** This request's id, sent back as `x-request-id` and logged with internal errors. */
    requestId: string;
    /** The session the request is about, when there is one (for the request log). */
    sessionId?: string;
    /** Aborted when the client hangs up (wired as the request arrives: see {@linkcode watchHangup}). */
    hangup: AbortSignal;
  };
}

/** The model a request asks for (or the default); 404 for an unknown name. */
export function pickModel(served: ServedModels, name: string | undefined): LoadedModel {
  const loaded = served.models.get(name ?? served.defaultModel);
  if (!loaded) {
    throw new ApiError(404, `Model "${name}" is not served here; GET /v1/models lists the models`, "model");
  }
  return loaded;
}

/**
 * A percent-encoded path segment decoded, or undefined when it does not decode (`%ED%A0%80` is
 * not UTF-8): no session or model has such a name, and decodeURIComponent would throw.
 */
export function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The request signals hang-up watchers hold on to, by the signal they return. */
const watched = new WeakMap<AbortSignal, AbortSignal>();

/**
 * A signal that aborts when the client of `request` hangs up, listened to from the moment the
 * request arrives and holding the request's own signal for as long as the returned one is held
 * (AbortSignal.any holds its sources only weakly).
 */
export function watchHangup(request: Request): AbortSignal {
  const controller = new AbortController();
  const source = request.signal;
  source.addEventListener("abort", () => controller.abort(source.reason), { once: true });
  watched.set(controller.signal, source);
  return controller.signal;
}

/**
 * Aborts when the client hangs up or the server shuts down: a generation that is not a session's
 * (nothing saves it) stops then instead of computing for nobody.
 */
export function requestSignal(c: Context<AppEnv>, served: ServedModels): AbortSignal {
  const controller = new AbortController();
  for (const source of [c.get("hangup"), served.shutdown]) {
    if (!source) continue;
    if (source.aborted) controller.abort(source.reason);
    else source.addEventListener("abort", () => controller.abort(source.reason), { once: true });
  }
  return controller.signal;
}
