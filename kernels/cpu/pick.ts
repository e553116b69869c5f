/**
 * The pick op on the host (the reference of kernels/webgpu/pick.ts): the selection rule of
 * engine/sampler.ts (adjustments, then argmax at temperature 0, or a draw among the filtered
 * candidates), written as plainly as it reads: a full sort, sums in f64.
 *
 * @module
 */

import type { PickOp } from "../ops.ts";

/** Runs a {@linkcode PickOp} on host arrays (`x` adjusted in place; `counts`: those of `op.counts`). */
export function pickRows(
  op: PickOp,
  x: Float32Array,
  params: Float32Array,
  adjust: Float32Array,
  out: Int32Array,
  counts?: { table: Int32Array; rows: Int32Array },
): void {
  const C = op.x.cols;
  const q = (row: number) => params.subarray(row * 8, row * 8 + 8);
  // The row's counts in the table (with op.counts), where the row is penalized.
  const kept = (row: number) => {
    if (!counts || !penalized(q(row))) return undefined;
    const at = counts.rows[row] * C;
    return counts.table.subarray(at, at + C);
  };
  if (counts && op.counts?.load) {
    for (let r = 0; r < op.n; r++) kept(r)?.fill(0);
    for (let a = 0; a < op.k; a++) {
      const [row, id, , count] = adjust.subarray(4 * a, 4 * a + 4);
      const table = count > 0 ? kept(row) : undefined;
      if (table) table[id] = count;
    }
  }
  for (let a = 0; a < op.k; a++) {
    const [row, id, bias, count] = adjust.subarray(4 * a, 4 * a + 4);
    if (count < 0) continue; // unused
    const i = row * C + id;
    x[i] += bias;
    if (count > 0 && !counts) x[i] = penalize(x[i], q(row), count);
  }
  for (let r = 0; r < op.n; r++) {
    const table = kept(r);
    if (!table) continue;
    for (let id = 0; id < C; id++) {
      if (table[id] > 0) x[r * C + id] = penalize(x[r * C + id], q(r), table[id]);
    }
  }
  for (let r = 0; r < op.n; r++) {
    out[r] = pickRow(x.subarray(r * C, (r + 1) * C), q(r));
    const table = kept(r);
    if (table) table[out[r]]++;
  }
}

/** Whether a row's PICK_PARAMS penalize tokens already picked. */
function penalized(q: Float32Array): boolean {
  return q[5] !== 0 || q[6] !== 0 || q[7] !== 1;
}

// A logit of a token picked `count` times (> 0), penalized by the row's PICK_PARAMS.
function penalize(v: number, q: Float32Array, count: number): number {
  if (q[7] !== 1) v = v > 0 ? v / q[7] : v * q[7];
  return v - q[5] - q[6] * count;
}

// One row: params as PICK_PARAMS orders them.
function pickRow(x: Float32Array, q: Float32Array): number {
  const [temperature, topK, topP, minP, u] = q;
  let best = 0;
  for (let c = 1; c < x.length; c++) if (x[c] > x[best]) best = c;
  if (temperature <= 0) return best;
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  const floor = max - 27.6 * temperature;
  const ids: number[] = [];
  for (let c = 0; c < x.length; c++) if (x[c] >= floor) ids.push(c);
  const weight = (c: number) => Math.exp((x[c] - max) / temperature);
  if (topK === 0 && topP >= 1 && minP === 0) return drawFrom(ids, weight, u);
  ids.sort((a, b) => x[b] - x[a] || a - b);
  const total = ids.reduce((s, c) => s + weight(c), 0);
  let keep = topK > 0 ? Math.min(ids.length, topK) : ids.length;
  if (topP < 1) {
    let cum = 0;
    for (let i = 0; i < keep; i++) {
      cum += weight(ids[i]) / total;
      if (cum >= topP) {
        keep = i + 1;
        break;
      }
    }
  }
  while (minP > 0 && keep > 1 && weight(ids[keep - 1]) < minP * weight(ids[0])) keep--;
  return drawFrom(ids.slice(0, keep), weight, u);
}

// The first of `ids` (in order) where the running sum of weights passes u times their total.
function drawFrom(ids: number[], weight: (c: number) => number, u: number): number {
  let target = u * ids.reduce((s, c) => s + weight(c), 0);
  for (const c of ids) {
    target -= weight(c);
    if (target < 0) return c;
  }
  return ids[ids.length - 1];
}
