/**
 * Following a session's generation from any instance: the logged events after
 * a position, then the live ones (from this process's runner, or by polling
 * the store when another instance runs it), taking the generation over when
 * its generator crashed (running, lease expired).
 *
 * @module
 */

import type { StateStore, StoredEvent } from "../store/mod.ts";
import type { GenerationRunner } from "./generation_runner.ts";
import type { Principal } from "./principal.ts";
import { findSession } from "./session_access.ts";

/** What following needs from the session service. */
export interface FollowContext {
  /** Where sessions and their events live. */
  readonly store: StateStore;
  /** This process's generations (live events, takeover). */
  readonly runner: GenerationRunner;
  /** How often to poll the store while another instance generates. */
  readonly pollMs: number;
  /** Aborted when the server shuts down: a follower waiting on another instance ends with its reason. */
  readonly closing: AbortSignal;
}

/** See the module documentation; `after` is the last position the client has (all events when undefined). */
export async function* followGeneration(
  context: FollowContext,
  id: string,
  who: Principal,
  options: { after?: number; generationId?: string },
): AsyncGenerator<StoredEvent> {
  const { after, generationId } = options;
  let last = after ?? -1;
  while (true) {
    const found = await findSession(context.store, id, who);
    const gen = found.meta.generation;
    if (!gen || (generationId && gen.id !== generationId)) return;
    const live = context.runner.live.get(id);
    if (live?.generationId === gen.id) {
      if (last < live.from - 1) {
        for (const e of await context.store.readEvents(id, gen.id, last)) {
          if (e.position >= live.from) break;
          yield e;
          last = e.position;
        }
      }
      for await (const e of live.follow(last)) {
        yield e;
        last = e.position;
      }
      return;
    }
    for (const e of await context.store.readEvents(id, gen.id, last)) {
      yield e;
      last = e.position;
      if (e.event !== "token") return;
    }
    if (gen.status === "done") return;
    context.closing.throwIfAborted();
    if (!await context.store.lease(id)) {
      await context.runner.resume(id);
      continue;
    }
    await new Promise((r) => setTimeout(r, context.pollMs));
  }
}
