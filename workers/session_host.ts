/**
 * A session's generation host: one Durable Object per session id (the `HOSTS` binding) that runs
 * the session's generations, so its state stays in the object (leaving it only as checkpoints)
 * and a client that disconnects does not end them. The Worker forwards the session's
 * `generate`, `stream` and `cancel` requests here; this object answers them with the same app.
 *
 * A run pauses after `TOKENS_PER_INVOCATION` tokens (checkpointed, a `paused` event to its
 * streams); the object's alarm then continues it, one budget per alarm, until it ends; a
 * `GET .../stream` in between continues it too. The alarm is also set when a generation starts:
 * should the object be evicted mid-run, it takes the generation over from its last checkpoint
 * once the lease expires.
 *
 * @module
 */

import { DurableObject, type DurableObjectState } from "cloudflare:workers";
import type { SessionService } from "../engine/mod.ts";
import { servedModels, sessionService, workerApp, type WorkerEnv } from "./serve.ts";

/** The requests of a session that its host answers (session id, action). */
export const HOSTED = /^\/v1\/sessions\/([^/]+)\/(generate|stream|cancel)$/;

/** How soon the alarm continues a paused or unfinished generation. */
const ALARM_DELAY_MS = 50;

/** The storage key of the session this object hosts. */
const SESSION_KEY = "session";

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
      const sessions = sessionService(this.env, served);
      return { sessions, app: workerApp(this.env, served, sessions) };
    }).catch((err) => {
      this.#host = undefined;
      throw err;
    });
    return this.#host;
  }

  /** Answers a hosted request of its session, and sets the alarm that carries a generation on. */
  async fetch(request: Request): Promise<Response> {
    const match = new URL(request.url).pathname.match(HOSTED);
    if (match) {
      await this.ctx.storage.put(SESSION_KEY, decodeURIComponent(match[1]));
    }
    const { app } = await this.#open();
    const response = await app.fetch(request);
    if (match && match[2] !== "cancel" && response.ok) {
      await this.ctx.storage.setAlarm(Date.now() + ALARM_DELAY_MS);
    }
    return response;
  }

  /** Runs the session's generation here until it pauses or ends; again, soon, while it is unfinished. */
  override async alarm(): Promise<void> {
    const id = await this.ctx.storage.get<string>(SESSION_KEY);
    if (!id) return;
    const { sessions } = await this.#open();
    if (await sessions.advance(id)) {
      await this.ctx.storage.setAlarm(Date.now() + ALARM_DELAY_MS);
    }
  }
}
