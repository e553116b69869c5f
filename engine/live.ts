import type { StoredEvent } from "../store/mod.ts";

/**
 * Events of a generation running in this process, for local followers: each
 * event is kept (from the position this process started at) and waiters are
 * woken as new ones arrive.
 */
export class LiveGeneration {
  readonly events: StoredEvent[] = [];
  #done = false;
  #wake: (() => void)[] = [];

  /** A generation `generationId` this process runs, producing events from position `from` on. */
  constructor(readonly generationId: string, readonly from: number) {}

  /** Adds an event and wakes followers. */
  push(event: StoredEvent): void {
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
