/**
 * Whether a kernel call is worth splitting between threads, learned from the calls themselves.
 *
 * Splitting a call by rows (or heads) between the caller and the pool's workers gives the same
 * results either way, bit for bit (each output is computed by one thread, in the same order); only
 * the time differs. What it costs is a hand-off: a wake of the sleeping worker, whose latency
 * depends on the machine (on a shared 2-vCPU host a futex wake took as long as a 768 × 768 bf16
 * matvec, and another process on the cores makes it worse). So for each kind of call (the kernel,
 * its rows and its work), the first calls alternate between split and alone, timed; then the faster
 * (by median) is used, and every `RETRY` calls the trial runs again, following the machine's load.
 * The backend asks only for calls under its ALWAYS_SPLIT work (one token's matrices); larger ones
 * are always split.
 *
 * @module
 */

/** Timed calls of each way before choosing. */
const TRIALS = 5;
/** Calls between trials. */
const RETRY = 256;

interface Choice {
  split: number[];
  alone: number[];
  /** The way chosen after the last trial (undefined while trying). */
  chosen?: boolean;
  /** Calls since the last trial ended. */
  calls: number;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

/** The choices of one backend, by kind of call. */
export class SplitChoice {
  readonly #choices = new Map<string, Choice>();
  readonly #now: () => number;

  /** `now`: the clock (milliseconds); tests pass their own. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Runs a call of kind `key` split (`split`) or on the caller alone (`alone`), as learned. */
  run(key: string, split: () => void, alone: () => void): void {
    let c = this.#choices.get(key);
    if (!c) this.#choices.set(key, c = { split: [], alone: [], calls: 0 });
    if (c.chosen !== undefined) {
      if (++c.calls < RETRY) return c.chosen ? split() : alone();
      c.chosen = undefined;
      c.split.length = c.alone.length = 0;
    }
    const trySplit = c.split.length <= c.alone.length;
    const t = this.#now();
    if (trySplit) split();
    else alone();
    (trySplit ? c.split : c.alone).push(this.#now() - t);
    if (c.alone.length === TRIALS && c.split.length === TRIALS) {
      c.chosen = median(c.split) <= median(c.alone);
      c.calls = 0;
    }
  }

  /** The way chosen for `key`: true split, false alone, undefined while trying (or never seen). */
  chosen(key: string): boolean | undefined {
    return this.#choices.get(key)?.chosen;
  }
}
