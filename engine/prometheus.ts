/**
 * A minimal Prometheus registry: counters, gauges and histograms with labels, rendered in the
 * text exposition format (version 0.0.4). No dependencies; nothing is pushed anywhere.
 *
 * @module
 */

type Labels = Readonly<Record<string, string>>;

/** Something the registry can render. */
interface Metric {
  render(): string;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const labelText = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
};
const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels).sort());
const num = (v: number) => Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";

/** A metric family with one value per label set. */
abstract class Family<V> implements Metric {
  protected readonly series = new Map<string, { labels: Labels; value: V }>();

  constructor(readonly name: string, readonly help: string, readonly type: string) {}

  protected entry(labels: Labels, init: () => V): { labels: Labels; value: V } {
    const key = keyOf(labels);
    let e = this.series.get(key);
    if (!e) {
      e = { labels, value: init() };
      this.series.set(key, e);
    }
    return e;
  }

  protected abstract lines(labels: Labels, value: V): string[];

  render(): string {
    const head = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    const body = [...this.series.values()].flatMap((e) => this.lines(e.labels, e.value));
    return [...head, ...body].join("\n") + "\n";
  }
}

/** A value that only goes up. */
export class Counter extends Family<number> {
  /** A counter named `name` (with `_total` by convention). */
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }

  /** Adds `by` (default 1) to the series of `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels, () => 0).value += by;
  }

  /** The current value of the series of `labels`. */
  get(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.value ?? 0;
  }

  protected lines(labels: Labels, value: number): string[] {
    return [`${this.name}${labelText(labels)} ${num(value)}`];
  }
}

/** A value that goes up and down. */
export class Gauge extends Family<number> {
  /** A gauge named `name`. */
  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }

  /** Adds `by` (default 1; negative to subtract). */
  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels, () => 0).value += by;
  }

  /** Sets the value. */
  set(value: number, labels: Labels = {}): void {
    this.entry(labels, () => 0).value = value;
  }

  /** The current value of the series of `labels`. */
  get(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.value ?? 0;
  }

  protected lines(labels: Labels, value: number): string[] {
    return [`${this.name}${labelText(labels)} ${num(value)}`];
  }
}

interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets (upper bounds `le`), with their sum and count. */
export class Histogram extends Family<HistogramValue> {
  /** A histogram with the given bucket upper bounds (ascending; +Inf is implied). */
  constructor(name: string, help: string, readonly buckets: readonly number[]) {
    super(name, help, "histogram");
  }

  /** Records one observation. */
  observe(value: number, labels: Labels = {}): void {
    const e = this.entry(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) e.value.counts[i]++;
    e.value.sum += value;
    e.value.count++;
  }

  /** How many observations the series of `labels` has. */
  count(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.value.count ?? 0;
  }

  protected lines(labels: Labels, v: HistogramValue): string[] {
    const bucket = (le: string, n: number) => `${this.name}_bucket${labelText({ ...labels, le })} ${n}`;
    return [
      ...this.buckets.map((b, i) => bucket(num(b), v.counts[i])),
      bucket("+Inf", v.count),
      `${this.name}_sum${labelText(labels)} ${num(v.sum)}`,
      `${this.name}_count${labelText(labels)} ${v.count}`,
    ];
  }
}

/** Metrics rendered together as one exposition. */
export class Registry {
  readonly #metrics: Metric[] = [];

  /** Adds `metric` and returns it. */
  register<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }

  /** Every metric in the text exposition format. */
  render(): string {
    return this.#metrics.map((m) => m.render()).join("");
  }
}
