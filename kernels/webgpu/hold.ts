/**
 * Keeps the backend's queue in call order while a submit waits on the GPU mid-list (timing the
 * prefill forms: prefill_choice.ts). Until then every submit, write and read goes to the queue
 * when called; while one waits, later calls are held and run after it, one by one, in the order
 * they were made, so a step's read still follows the step and the next step's row table its
 * predecessor's ops.
 *
 * @module
 */

/** A chain of held calls; empty again once they have all run. */
export class Hold {
  #tail: Promise<void> | undefined;

  /** Whether calls are being held (a wait is in progress, or held calls are still to run). */
  get active(): boolean {
    return this.#tail !== undefined;
  }

  /** Runs `f` after every call held before it (at once if none is), and holds later calls until it is done. */
  after<T>(f: () => T | Promise<T>): Promise<T> {
    const p = (this.#tail ?? Promise.resolve()).then(f);
    const link = p.then(() => {}, () => {});
    this.#tail = link;
    void link.then(() => {
      if (this.#tail === link) this.#tail = undefined;
    });
    return p;
  }
}
