/**
 * Keeps a generation's lease while its generator is alive: renews it every third of the lease
 * time on a timer of its own, whatever the generation is doing (a slow token, a slow checkpoint).
 * A generator that is slow but alive is never taken over; one that crashed loses the lease within
 * one lease time, and another instance resumes it.
 *
 * @module
 */

import type { StateStore } from "../store/types.ts";

/** See the module documentation. */
export class LeaseHeartbeat {
  readonly #timer: ReturnType<typeof setInterval>;
  #beating: Promise<void> | undefined;

  /** Starts renewing the lease `owner` holds on session `id` (for `leaseMs` each time). */
  constructor(
    readonly store: StateStore,
    readonly id: string,
    readonly owner: string,
    readonly leaseMs: number,
  ) {
    this.#timer = setInterval(() => this.#beat(), Math.max(1, Math.floor(leaseMs / 3)));
  }

  #beat(): void {
    if (this.#beating) return; // the last renewal is still on its way
    this.#beating = this.store.acquireLease(this.id, this.owner, this.leaseMs)
      .then((held) => {
        if (held) return;
        // Taken over (this process was stalled past the lease): the next checkpoint fails its check.
        console.error(`generation on session ${this.id} lost its lease to another instance`);
        clearInterval(this.#timer);
      })
      .catch((err) => console.error(`renewing the lease of session ${this.id} failed:`, err))
      .finally(() => this.#beating = undefined);
  }

  /** Stops renewing, once any renewal in flight has landed (so a release after this one sticks). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
  }
}
