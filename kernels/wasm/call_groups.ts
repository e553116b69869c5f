/**
 * Which consecutive kernel calls may run as one threaded job: each thread runs its row share of
 * every call in the group, then one join, instead of a hand-off and a join per call. That is safe
 * only where no call of a group reads or writes what another writes, checked here on the byte
 * ranges the calls touch in WASM memory. A 16-bit matmul rewrites its x in place for the call
 * (permute8, restored after), so its x counts as written, except towards calls that read the same
 * x the same way (the group permutes it once).
 *
 * @module
 */

/** The memory one call touches. */
export interface CallSpan {
  /** Bytes of input it reads, [from, to). */
  readonly x: readonly [number, number];
  /** Bytes of output it writes, [from, to). */
  readonly out: readonly [number, number];
  /** The row width x is permuted with for the call, 0 where x is only read. */
  readonly permute: number;
  /** False for a call that runs alone (a quantized matmul: it quantizes x into one shared buffer). */
  readonly groupable: boolean;
}

const overlap = (a: readonly [number, number], b: readonly [number, number]) => a[0] < b[1] && b[0] < a[1];

/** Whether `a` and `b` may run in one job, either's rows on either thread. */
export function independent(a: CallSpan, b: CallSpan): boolean {
  if (overlap(a.out, b.out) || overlap(a.out, b.x) || overlap(b.out, a.x)) return false;
  if (!overlap(a.x, b.x) || (a.permute === 0 && b.permute === 0)) return true;
  return a.x[0] === b.x[0] && a.x[1] === b.x[1] && a.permute === b.permute;
}

/**
 * Cuts `calls` (in op-list order) into runs of consecutive calls, each pairwise independent and at
 * most `max` long; returns each run's length. A call that is not groupable is a run of its own.
 */
export function groupCalls(calls: readonly CallSpan[], max: number): number[] {
  const lengths: number[] = [];
  let start = 0;
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i];
    let joins = i > start && c.groupable && i - start < max;
    for (let j = start; joins && j < i; j++) joins = calls[j].groupable && independent(calls[j], c);
    if (!joins && i > start) {
      lengths.push(i - start);
      start = i;
    }
  }
  if (calls.length > start) lengths.push(calls.length - start);
  return lengths;
}
