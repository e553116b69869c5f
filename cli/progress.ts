/**
 * Progress of long work on stderr: on a terminal one line redrawn in place (count, percent,
 * rate and ETA, or elapsed time when the total is unknown); otherwise plain lines now and then,
 * so logs stay readable.
 *
 * @module
 */

/** Options of {@linkcode Progress}. */
export interface ProgressOptions {
  /** How many items there are; undefined shows elapsed time only. */
  readonly total?: number;
  /** What an item is called ("passages", "tensors"). */
  readonly unit?: string;
  /** Whether to redraw in place (default: whether stderr is a terminal). */
  readonly terminal?: boolean;
  /** Where lines go (default: stderr). */
  readonly write?: (text: string) => void;
  /** Plain lines (not a terminal): one every this fraction of the total (default 0.1). */
  readonly every?: number;
}

const encoder = new TextEncoder();

/** A progress line for one piece of work. */
export class Progress {
  readonly #label: string;
  readonly #total: number | undefined;
  readonly #unit: string;
  readonly #terminal: boolean;
  readonly #write: (text: string) => void;
  readonly #every: number;
  readonly #started = performance.now();
  #count = 0;
  #lastDraw = 0;
  #nextPlain: number;

  /** Starts showing progress of `label`. */
  constructor(label: string, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = options.total;
    this.#unit = options.unit ?? "";
    this.#terminal = options.terminal ?? Deno.stderr.isTerminal();
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#every = Math.max(1, Math.ceil((options.total ?? 0) * (options.every ?? 0.1)));
    this.#nextPlain = this.#every;
    if (this.#terminal) this.#draw();
    else {this.#write(
        `${label}${this.#total !== undefined ? ` (${this.#total} ${this.#unit})`.trimEnd() : ""}…\n`,
      );}
  }

  /** Counts `n` more items done. */
  tick(n = 1): void {
    this.#count += n;
    const now = performance.now();
    if (this.#terminal) {
      if (now - this.#lastDraw >= 100) this.#draw();
    } else if (this.#total !== undefined && this.#count >= this.#nextPlain && this.#count < this.#total) {
      this.#nextPlain += this.#every;
      this.#write(`${this.#label}: ${this.#status(now)}\n`);
    }
  }

  /** Redraws the line (on a terminal), e.g. from a timer while waiting on one long step. */
  refresh(): void {
    if (this.#terminal) this.#draw();
  }

  /** Clears the line (on a terminal) without a summary, e.g. before an error message. */
  clear(): void {
    if (this.#terminal) this.#write("\r\x1b[2K");
  }

  /** Ends the line with `summary` (default: the count and the time taken). */
  done(summary?: string): void {
    const seconds = (performance.now() - this.#started) / 1000;
    const text = summary ??
      `${this.#label}: ${this.#count} ${this.#unit} in ${seconds.toFixed(1)} s`.replace("  ", " ");
    this.#write(this.#terminal ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }

  /** The current status: count, percent, rate, ETA (or elapsed time without a total). */
  #status(now: number): string {
    const seconds = (now - this.#started) / 1000;
    if (this.#total === undefined) {
      return this.#count > 0
        ? `${this.#count} ${this.#unit}, ${seconds.toFixed(1)} s`
        : `${seconds.toFixed(1)} s`;
    }
    const rate = this.#count / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? (this.#total - this.#count) / rate : Infinity;
    const percent = (100 * this.#count / Math.max(this.#total, 1)).toFixed(0);
    return `${this.#count}/${this.#total} ${this.#unit} (${percent} %), ${rate.toFixed(1)}/s, ETA ${
      Number.isFinite(eta) ? formatSeconds(eta) : "?"
    }`.replace("  ", " ");
  }

  #draw(): void {
    const now = performance.now();
    this.#lastDraw = now;
    this.#write(`\r\x1b[2K${this.#label}: ${this.#status(now)}`);
  }
}

/** `m:ss` or `s s`. */
function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s % 60)).padStart(2, "0")}`;
}

/**
 * Runs `work` while showing elapsed time under `label` (redrawn every 200 ms on a terminal, when
 * the event loop is free), then the line `summary(result, ms)` returns (none if undefined).
 */
export async function withProgress<T>(
  label: string,
  work: () => Promise<T>,
  summary: (result: T, ms: number) => string | undefined,
  options: Omit<ProgressOptions, "total"> = {},
): Promise<T> {
  const progress = new Progress(label, options);
  const timer = setInterval(() => progress.refresh(), 200);
  const started = performance.now();
  try {
    const result = await work();
    const text = summary(result, Math.round(performance.now() - started));
    if (text === undefined) progress.clear();
    else progress.done(text);
    return result;
  } catch (err) {
    progress.clear();
    throw err;
  } finally {
    clearInterval(timer);
  }
}
