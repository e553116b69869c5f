/**
 * Stop strings over streamed text: text is released only once it can no longer
 * be the start of a stop string, and the match itself is never released.
 */
export class StopMatcher {
  #pending: string;

  /** Watches for `stops` (empty strings are ignored), starting with `held` text pending. */
  constructor(readonly stops: readonly string[], held = "") {
    this.stops = stops.filter((s) => s.length > 0);
    this.#pending = held;
  }

  /** Text held back (a possible start of a stop string). */
  get held(): string {
    return this.#pending;
  }

  /** Adds text; returns what is safe to emit and whether a stop string was hit. */
  push(text: string): { text: string; stopped: boolean } {
    this.#pending += text;
    let first = -1;
    for (const s of this.stops) {
      const at = this.#pending.indexOf(s);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      const out = this.#pending.slice(0, first);
      this.#pending = "";
      return { text: out, stopped: true };
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.#pending.length); n > hold; n--) {
        if (this.#pending.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    const out = this.#pending.slice(0, this.#pending.length - hold);
    this.#pending = this.#pending.slice(this.#pending.length - hold);
    return { text: out, stopped: false };
  }

  /** Releases held text at the end of a generation that did not stop on a string. */
  flush(): string {
    const out = this.#pending;
    this.#pending = "";
    return out;
  }
}
