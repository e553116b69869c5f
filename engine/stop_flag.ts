/**
 * The reading side of an AbortSignal without an AbortController. On workerd an AbortController
 * cannot be made at module scope, and a signal made while serving one request cannot even be read
 * while serving another; the engine's long-lived "stop" states (a shutdown, a runner's stop) are
 * read by every request, so they are plain flags. APIs that need a real AbortSignal derive one
 * where they run.
 *
 * @module
 */

/** What the engine reads of a stop: whether it happened, why, and a throw if it did. */
export type StopSignal = Pick<AbortSignal, "aborted" | "reason" | "throwIfAborted">;

/** A stop that happens once, with a reason. */
export class StopFlag implements StopSignal {
  #stopped = false;
  #reason: unknown;

  /** Whether {@linkcode StopFlag.stop} was called. */
  get aborted(): boolean {
    return this.#stopped;
  }

  /** The reason given to the first stop. */
  get reason(): unknown {
    return this.#reason;
  }

  /** Throws the reason once stopped. */
  throwIfAborted(): void {
    if (this.#stopped) throw this.#reason;
  }

  /** Stops, for `reason` (later calls change nothing). */
  stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#reason = reason;
  }
}
