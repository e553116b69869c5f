/**
 * Following a session's generation from any instance: the logged events after
 * a position, then the live ones (from this process's runner; when another
 * instance runs it, from the store's live feed as each is produced, or by
 * polling the event log where the store has none), taking the generation over
 * when its generator crashed (running, lease expired).
 *
 * @module
 */

import type { StopSignal } from "./stop_flag.ts";
import type { LiveSubscription, StateStore, StoredEvent } from "../store/types.ts";
import type { GenerationRunner } from "./generation_runner.ts";
import type { Principal } from "./principal.ts";
import { findSession } from "./session_access.ts";

/** What following needs from the session service. */
export interface FollowContext {
  /** Where sessions and their events live. */
  readonly store: StateStore;
  /** This process's generations (live events, takeover). */
  readonly runner: GenerationRunner;
  /** How often to poll the store while another instance generates (with a live feed: its longest quiet). */
  readonly pollMs: number;
  /** Aborted when the server shuts down: a follower waiting on another instance ends with its reason. */
  readonly closing: StopSignal;
}

/**
 * See the module documentation; `after` is the last position the client has (all events when
 * undefined). A run paused at its token budget ends the events with its `paused` event, unless
 * `throughPauses`: then the paused generation is taken over here and followed on.
 */
export async function* followGeneration(
  context: FollowContext,
  id: string,
  who: Principal,
  options: { after?: number; generationId?: string; throughPauses?: boolean },
): AsyncGenerator<StoredEvent> {
  const { after, generationId } = options;
  let last = after ?? -1;
  let feed: { generationId: string; subscription: LiveSubscription } | undefined;
  try {
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
        let paused = false;
        for await (const e of live.follow(last)) {
          paused = e.event === "paused";
          if (paused && options.throughPauses) break;
          yield e;
          if (!paused) last = e.position;
        }
        if (paused && options.throughPauses) continue;
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
      const liveFeed = context.store.live;
      if (!liveFeed) {
        await new Promise((r) => setTimeout(r, context.pollMs));
        continue;
      }
      if (feed?.generationId !== gen.id) {
        feed?.subscription.close();
        feed = { generationId: gen.id, subscription: liveFeed.subscribe(id, gen.id) };
      }
      try {
        for await (const e of continuing(feed.subscription, last, gen.start, context)) {
          yield e;
          last = e.position;
          if (e.event !== "token") return;
        }
      } catch (err) {
        // The feed failed (a lost connection): poll the log once, and subscribe again.
        console.error(`live feed of session ${id} failed, reading the event log:`, err);
        feed.subscription.close();
        feed = undefined;
        await new Promise((r) => setTimeout(r, context.pollMs));
      }
    }
  } finally {
    feed?.subscription.close();
  }
}

/**
 * The live feed's events that continue a client's run after position `last` (a generation
 * starting at `start`), each as it comes, until the feed is quiet for `pollMs`, skips a position
 * (the event log fills the gap at the next checkpoint) or the server shuts down. Events at or
 * before `last` were sent already, from the log or by a generator that crashed before a resumed
 * one repeated them.
 */
async function* continuing(
  subscription: LiveSubscription,
  last: number,
  start: number,
  context: FollowContext,
): AsyncGenerator<StoredEvent> {
  while (true) {
    const batch = await subscription.next(context.pollMs);
    context.closing.throwIfAborted();
    if (batch.length === 0) return;
    for (const e of batch) {
      if (e.position <= last) continue;
      if (e.position > Math.max(last + 1, start)) return;
      yield e;
      last = e.position;
    }
  }
}
