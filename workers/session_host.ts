/**
 * A session's generation host: one Durable Object per session id (the `HOSTS` binding) that runs
 * the session's generations, so its state stays in the object (leaving it only as checkpoints)
 * and a client that disconnects does not end them. The Worker forwards the session's
 * `generate`, `stream` and `cancel` requests and chat completions on it here; this object answers
 * them with the same app. A chat request's `n` > 1 forks run here too.
 *
 * A run pauses after `TOKENS_PER_INVOCATION` tokens (checkpointed, a `paused` event to its
 * streams); the object's alarm then continues it, one budget per alarm, until it ends; a
 * `GET .../stream` in between continues it too. The alarm carries on the session's own generation
 * and every other one that paused here (a fork's, remembered in storage until it ends). The alarm is also set when a generation starts:
 * should the object be evicted mid-run, it takes the generation over from its last checkpoint
 * once the lease expires.
 *
 * @module
 */

import { DurableObject, type DurableObjectState } from "cloudflare:workers";
import type { SessionService } from "../engine/mod.ts";
import { decodeSegment } from "../routes/mod.ts";
import { servedModels, sessionService, startFailed, workerApp, type WorkerEnv } from "./serve.ts";

/** The session routes its host answers (session id, action). */
const HOSTED = /^\/v1\/sessions\/([^/]+)\/(generate|stream|cancel)$/;

/**
 * The session whose host answers `request`, and what it asks: a session's generate, stream or
 * cancel, or a chat completion on a session (`session_id`; its body read from a copy).
 */
export async function hostedSession(request: Request): Promise<{ id: string; action: string } | undefined> {
  const path = new URL(request.url).pathname;
  const match = path.match(HOSTED);
  if (match) {
    const id = decodeSegment(match[1]);
    return id === undefined ? undefined : { id, action: match[2] }; // no such session: the app's 404
  }
  if (path !== "/v1/chat/completions" || request.method !== "POST") return undefined;
  const body = await request.clone().json().catch(() => undefined);
  return typeof body?.session_id === "string" ? { id: body.session_id, action: "chat" } : undefined;
}

/** How soon the alarm continues a paused or unfinished generation. */
const ALARM_DELAY_MS = 50;

/** The storage key of the session this object hosts. */
const SESSION_KEY = "session";
/** The storage key of the other sessions (forks) whose runs paused here, until they end. */
const PAUSED_KEY = "paused";

/** See the module documentation. */
export class SessionHostObject extends DurableObject<WorkerEnv> {
  #host?: Promise<
    { sessions: SessionService; app: ReturnType<typeof workerApp> }
  >;

  /** Called by workerd. */
  constructor(ctx: DurableObjectState, env: WorkerEnv) {
    super(ctx, env);
  }

  #open() {
    this.#host ??= servedModels(this.env).then((served) => {
      const sessions = sessionService(this.env, served, (id) => this.#paused(id));
      return { sessions, app: workerApp(this.env, served, sessions) };
    }).catch((err) => {
      this.#host = undefined;
      throw err;
    });
    return this.#host;
  }

  /** Answers a hosted request of its session, and sets the alarm that carries a generation on. */
  async fetch(request: Request): Promise<Response> {
    const hosted = await hostedSession(request);
    if (hosted) await this.ctx.storage.put(SESSION_KEY, hosted.id);
    let app;
    try {
      ({ app } = await this.#open());
    } catch (err) {
      return startFailed(err);
    }
    const response = await app.fetch(request);
    if (hosted && hosted.action !== "cancel" && response.ok) {
      await this.ctx.storage.setAlarm(Date.now() + ALARM_DELAY_MS);
    }
    return response;
  }

  /** Remembers a paused run of a session other than this object's own (a fork), and sets the alarm. */
  #paused(id: string): void {
    this.ctx.waitUntil((async () => {
      if (id !== await this.ctx.storage.get<string>(SESSION_KEY)) {
        const others = new Set(await this.ctx.storage.get<string[]>(PAUSED_KEY) ?? []);
        if (!others.has(id)) await this.ctx.storage.put(PAUSED_KEY, [...others.add(id)]);
      }
      await this.ctx.storage.setAlarm(Date.now() + ALARM_DELAY_MS);
    })());
  }

  /**
   * Runs the generations this object carries (its session's, and forks' that paused here) until
   * each pauses or ends; again, soon, while one is unfinished.
   */
  override async alarm(): Promise<void> {
    const own = await this.ctx.storage.get<string>(SESSION_KEY);
    const others = await this.ctx.storage.get<string[]>(PAUSED_KEY) ?? [];
    if (!own && others.length === 0) return;
    const { sessions } = await this.#open();
    let delay = Infinity;
    const ended = new Set<string>();
    for (const id of own ? [own, ...others] : others) {
      const where = await sessions.advance(id);
      // Paused: continue it at once. Run elsewhere (in a Worker's request): look again once its lease could lapse.
      if (where === "paused") delay = Math.min(delay, ALARM_DELAY_MS);
      if (where === "elsewhere") delay = Math.min(delay, Number(this.env.LEASE_MS) || 10_000);
      if (where === "done") ended.add(id);
    }
    if (others.length > 0) {
      // Read again: a run that paused meanwhile (a request's) was added while this alarm ran.
      const now = await this.ctx.storage.get<string[]>(PAUSED_KEY) ?? [];
      await this.ctx.storage.put(PAUSED_KEY, now.filter((id) => !ended.has(id)));
    }
    if (delay < Infinity) await this.ctx.storage.setAlarm(Date.now() + delay);
  }
}
