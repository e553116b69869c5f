import type { StateStore, StoredEvent } from "../store/types.ts";

/**
 * Events of a generation running in this process, for local followers: each
 * event is kept (from the position this process started at) and waiters are
 * woken as new ones arrive.
 */
export class LiveGeneration {
  readonly events: StoredEvent[] = [];
  /** Set by a user's cancel: the generation ends before its next token (finish reason "cancelled"). */
  cancelled = false;
  #done = false;
  #wake: (() => void)[] = [];

  /**
   * A generation `generationId` this process runs, producing events from position `from` on;
   * `announce` passes its token and done events on to followers on other instances.
   */
  constructor(
    readonly generationId: string,
    readonly from: number,
    readonly announce?: (event: StoredEvent) => void,
  ) {}

  /** Adds an event and wakes followers. */
  push(event: StoredEvent): void {
    if (event.event === "token" || event.event === "done") this.announce?.(event);
    this.events.push(event);
    if (event.event !== "token") this.#done = true;
    for (const w of this.#wake.splice(0)) w();
  }

  /** Marks the generation finished without a final event (the process gave it up). */
  end(): void {
    this.#done = true;
    for (const w of this.#wake.splice(0)) w();
  }

  /** Events after position `after`, then each new one, until the final event. */
  async *follow(after: number): AsyncGenerator<StoredEvent> {
    let i = 0;
    while (true) {
      while (i < this.events.length) {
        const e = this.events[i++];
        if (e.position > after) yield e;
      }
      if (this.#done) return;
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }
}

/**
 * Announces a generation's events on the store's live feed, if it has one, without waiting: a
 * lost announcement only delays followers elsewhere until the next checkpoint logs the event.
 */
export function announcer(store: StateStore, id: string, generationId: string): (event: StoredEvent) => void {
  const feed = store.live;
  if (!feed) return () => {};
  let failed = false;
  return (event) => {
    feed.announce(id, generationId, event).catch((err) => {
      if (!failed) {
        console.error(
          `live fan-out of session ${id} failed (followers elsewhere fall back to polling):`,
          err,
        );
      }
      failed = true;
    });
  };
}
