/**
 * Sampled picks on the GPU: the host sampler's selection rule (engine/sampler.ts, kernels/cpu/pick.ts)
 * in f32, so a step that needs only the next token reads back one i32 per row whatever the sampling.
 *
 * First a shader applies the adjustments (logit bias, penalties: one thread per `[row, id, bias,
 * count]`, in place). With the counts kept on the GPU (PickOp.counts: a `[slots][vocab]` i32 table,
 * so steps run ahead see the picks before them), the list brings only the bias (and, loading, the
 * counts, written into a row zeroed first), one thread per column applies the penalties from the
 * table, and after the pick one thread per row counts it.
 *
 * Then one workgroup per row, without a sort: every question the rule asks ("where does the sorted
 * order first reach k tokens, or mass p, or u times the kept mass?") is a search for a position in the
 * order (logit desc, id asc), or in id order when no filter is set, answered by bisection: first over
 * the logits' order-preserving u32 keys, then over the ids that share the key. Each probe is one pass
 * over the row (64 threads, strided) and a fixed tree sum, so the count and mass before a position
 * never decrease as it moves on and the searches are exact in their own arithmetic; they differ from
 * the host's f64 sums only by rounding, which moves a pick only when a cumulative probability lies
 * within that rounding of a boundary. At most 4 × (32 + log2(vocab)) passes per sampled row, about 4 ×
 * 30 when the positions found hold one candidate each (a key held by one candidate needs no search
 * over ids); a row at temperature 0 takes two.
 *
 * @module
 */

import type { PickOp } from "../ops.ts";
import { checkShape, gpu, grid, type Plan, threads } from "./plan.ts";
import { BUILTINS, FLAT } from "./wgsl.ts";

const adjustCode = () => `
struct P { k: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> prm: array<f32>; // [n][8]
@group(0) @binding(3) var<storage, read_write> adjust: array<f32>; // [k][4] row, id, bias, count
${FLAT}
${PENALTY}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let a = flatThread(wid, nwg, lid);
  if (a >= p.k) { return; }
  let count = adjust[4u * a + 3u];
  if (count < 0.0) { return; } // unused
  let row = u32(adjust[4u * a]);
  let i = row * p.cols + u32(adjust[4u * a + 1u]);
  var v = x[i] + adjust[4u * a + 2u];
  if (count > 0.0) { v = penalize(v, row, count); }
  x[i] = v;
}`;

// The penalty of a token picked `count` times (> 0): the repetition penalty, then presence and
// frequency (prm: the rows' PICK_PARAMS); and whether a row has any.
const PENALTY = `
fn penalize(x: f32, row: u32, count: f32) -> f32 {
  var v = x;
  let rep = prm[8u * row + 7u];
  if (rep != 1.0) { v = select(v * rep, v / rep, v > 0.0); }
  return v - prm[8u * row + 5u] - prm[8u * row + 6u] * count;
}
fn penalized(row: u32) -> bool {
  return prm[8u * row + 5u] != 0.0 || prm[8u * row + 6u] != 0.0 || prm[8u * row + 7u] != 1.0;
}`;

// With counts kept on the GPU: the bindings of the table and each row's row of it.
const COUNTS = (at: number) => `
@group(0) @binding(${at}) var<storage, read_write> rows: array<i32>; // [n] each row's counts row
@group(0) @binding(${at + 1}) var<storage, read_write> table: array<i32>; // [slots][cols] the counts`;

// Kept counts, loading: each penalized row's counts row zeroed (one thread per column, z the row).
const clearCode = () => `
struct P { n: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> prm: array<f32>; // [n][8]
${COUNTS(2)}
${FLAT}
${PENALTY}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = wid.z;
  let col = flatThread(wid, nwg, lid);
  if (row >= p.n || col >= p.cols || !penalized(row)) { return; }
  table[u32(rows[row]) * p.cols + col] = 0;
}`;

// Kept counts: the bias of each entry (and, loading, its count into the penalized row's counts row).
const adjustCountsCode = () => `
struct P { k: u32, cols: u32, load: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> prm: array<f32>; // [n][8]
@group(0) @binding(3) var<storage, read_write> adjust: array<f32>; // [k][4] row, id, bias, count
${COUNTS(4)}
${FLAT}
${PENALTY}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let a = flatThread(wid, nwg, lid);
  if (a >= p.k) { return; }
  let count = adjust[4u * a + 3u];
  if (count < 0.0) { return; } // unused
  let row = u32(adjust[4u * a]);
  let id = u32(adjust[4u * a + 1u]);
  x[row * p.cols + id] = x[row * p.cols + id] + adjust[4u * a + 2u];
  if (p.load != 0u && count > 0.0 && penalized(row)) { table[u32(rows[row]) * p.cols + id] = i32(count); }
}`;

// Kept counts: the penalty on every id of a penalized row whose count is above 0 (z the row).
const penalizeCode = () => `
struct P { n: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> prm: array<f32>; // [n][8]
${COUNTS(3)}
${FLAT}
${PENALTY}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = wid.z;
  let col = flatThread(wid, nwg, lid);
  if (row >= p.n || col >= p.cols || !penalized(row)) { return; }
  let count = table[u32(rows[row]) * p.cols + col];
  if (count > 0) { x[row * p.cols + col] = penalize(x[row * p.cols + col], row, f32(count)); }
}`;

// Kept counts: each penalized row's pick counted (one thread per row).
const recordCode = () => `
struct P { n: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> prm: array<f32>; // [n][8]
@group(0) @binding(2) var<storage, read_write> out: array<i32>; // [n] the picks
${COUNTS(3)}
${FLAT}
${PENALTY}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = flatThread(wid, nwg, lid);
  if (row >= p.n || !penalized(row)) { return; }
  let i = u32(rows[row]) * p.cols + u32(out[row]);
  table[i] = table[i] + 1;
}`;

const pickCode = () => `
struct P { n: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> prm: array<f32>; // [n][8] temperature, topK, topP, minP, u, ...
@group(0) @binding(3) var<storage, read_write> out: array<i32>; // [n] the picks
var<workgroup> q: array<f32, 8>;
var<workgroup> redC: array<u32, 64>;
var<workgroup> redM: array<f32, 64>;
var<workgroup> redW: array<u32, 64>;
var<workgroup> sumC: u32;
var<workgroup> sumM: f32;
var<workgroup> sumW: u32;
var<workgroup> maxV: f32;
${FLAT}
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
// An order-preserving u32 of an f32 (-0 as +0): a larger key is a larger logit.
fn keyOf(v: f32) -> u32 {
  let b = select(bitcast<u32>(v), 0u, bitcast<u32>(v) == 0x80000000u);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
struct Row { base: u32, m: f32, fl: f32, t: f32, thr: f32 }
// What lies at or before a position: the count, the mass and the count of weights >= thr.
struct Tally { c: u32, m: f32, w: u32 }
// The candidates at or before position (kt, it): in the order (logit desc, id asc) a larger key, or
// the same key at an id <= it; by index, an id <= it.
fn tally(r: Row, kt: u32, it: u32, byIndex: bool, lid: u32) -> Tally {
  var c = 0u;
  var m = 0.0;
  var w = 0u;
  for (var i = lid; i < p.cols; i += 64u) {
    let v = x[r.base + i];
    if (isNan(v) || !(v >= r.fl)) { continue; }
    let k = keyOf(v);
    let inside = select(k > kt || (k == kt && i <= it), i <= it, byIndex);
    if (inside) {
      let e = exp((v - r.m) / r.t);
      c += 1u;
      m += e;
      w += select(0u, 1u, e >= r.thr);
    }
  }
  redC[lid] = c;
  redM[lid] = m;
  redW[lid] = w;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      redC[lid] += redC[lid + s];
      redM[lid] += redM[lid + s];
      redW[lid] += redW[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    sumC = redC[0];
    sumM = redM[0];
    sumW = redW[0];
  }
  return Tally(workgroupUniformLoad(&sumC), workgroupUniformLoad(&sumM), workgroupUniformLoad(&sumW));
}
// What a search asks of a tally: a count of at least wantC, or a mass of at least (strict: above) wantM.
struct Want { byMass: bool, c: u32, m: f32, strict: bool }
fn meets(t: Tally, want: Want) -> bool {
  if (!want.byMass) { return t.c >= want.c; }
  return select(t.m >= want.m, t.m > want.m, want.strict);
}
struct Found { ok: bool, kt: u32, it: u32 }
// The smallest id among the candidates whose key is kt (0xffffffff: none).
fn firstAt(r: Row, kt: u32, lid: u32) -> u32 {
  var best = 0xffffffffu;
  for (var i = lid; i < p.cols; i += 64u) {
    let v = x[r.base + i];
    if (!isNan(v) && v >= r.fl && keyOf(v) == kt) {
      best = i;
      break;
    }
  }
  redC[lid] = best;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { redC[lid] = min(redC[lid], redC[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { sumC = redC[0]; }
  return workgroupUniformLoad(&sumC);
}
// The first position (in the order, or by index) whose tally meets want; keys between klo and khi.
fn search(r: Row, want: Want, byIndex: bool, klo: u32, khi: u32, lid: u32) -> Found {
  let last = p.cols - 1u;
  var kt = klo;
  if (!byIndex) {
    var at = tally(r, klo, last, false, lid); // what lies at keys >= lo
    if (!meets(at, want)) { return Found(false, 0u, 0u); }
    var lo = klo;
    var hi = khi;
    loop {
      if (lo >= hi) { break; }
      let mid = lo + (hi - lo + 1u) / 2u;
      let t = tally(r, mid, last, false, lid);
      if (meets(t, want)) {
        lo = mid;
        at = t;
      } else { hi = mid - 1u; }
    }
    kt = lo;
    // One candidate at this key (the usual case): it is the position.
    if (kt == 0xffffffffu || at.c - tally(r, kt + 1u, last, false, lid).c == 1u) {
      return Found(true, kt, firstAt(r, kt, lid));
    }
  } else if (!meets(tally(r, 0u, last, true, lid), want)) {
    return Found(false, 0u, 0u);
  }
  var lo = 0u;
  var hi = last;
  loop {
    if (lo >= hi) { break; }
    let mid = lo + (hi - lo) / 2u;
    if (meets(tally(r, kt, mid, byIndex, lid), want)) { hi = mid; } else { lo = mid + 1u; }
  }
  return Found(true, kt, lo);
}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let row = flatGroup(wid, nwg);
  if (row >= p.n) { return; } // uniform: from the workgroup id
  let base = row * p.cols;
  if (lid < 8u) { q[lid] = prm[8u * row + lid]; }
  let qq = workgroupUniformLoad(&q);
  var mv = bitcast<f32>(0xff800000u);
  for (var i = lid; i < p.cols; i += 64u) {
    let v = x[base + i];
    if (!isNan(v) && v > mv) { mv = v; }
  }
  redM[lid] = mv;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { redM[lid] = max(redM[lid], redM[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { maxV = redM[0]; }
  let m = workgroupUniformLoad(&maxV);
  let t = qq[0];
  let kmax = keyOf(m);
  if (t <= 0.0) {
    // argmax: the first id at the largest value (0 when the first value is NaN, as the host's scan)
    let f = firstAt(Row(base, m, m, 1.0, 0.0), kmax, lid);
    if (lid == 0u) { out[row] = select(i32(f), 0, isNan(x[base]) || f == 0xffffffffu); }
    return;
  }
  let r = Row(base, m, m - 27.6 * t, t, qq[3]);
  let topK = u32(qq[1]);
  let topP = qq[2];
  let minP = qq[3];
  let u = qq[4];
  let klo = keyOf(r.fl);
  let all = tally(r, 0u, p.cols - 1u, false, lid);
  var pick = 0u;
  if (topK == 0u && topP >= 1.0 && minP == 0.0) {
    // No filter: the first id whose running mass (in id order) passes u times the total.
    let f = search(r, Want(true, 0u, u * all.m, true), true, klo, kmax, lid);
    pick = f.it;
    if (!f.ok) { pick = search(r, Want(false, all.c, 0.0, false), true, klo, kmax, lid).it; }
  } else {
    var keep = all.c;
    if (topK > 0u && topK < keep) { keep = topK; }
    // The last kept position, and what lies up to it, when top-p sets it (else searched below).
    var end = Found(false, 0u, 0u);
    var kept = Tally(0u, 0.0, 0u);
    if (topP < 1.0) {
      let f = search(r, Want(true, 0u, topP * all.m, false), false, klo, kmax, lid);
      if (f.ok) {
        let t = tally(r, f.kt, f.it, false, lid);
        if (t.c < keep) {
          keep = t.c;
          end = f;
          kept = t;
        }
      }
    }
    if (minP > 0.0 && all.w < keep) {
      keep = max(1u, all.w);
      end.ok = false;
    }
    if (!end.ok) {
      end = search(r, Want(false, keep, 0.0, false), false, klo, kmax, lid);
      kept = tally(r, end.kt, end.it, false, lid);
    }
    let f = search(r, Want(true, 0u, u * kept.m, true), false, end.kt, kmax, lid);
    var at = end.it;
    if (f.ok && tally(r, f.kt, f.it, false, lid).c <= keep) { at = f.it; }
    pick = at;
  }
  if (lid == 0u) { out[row] = i32(pick); }
}`;

/**
 * Adjusts `x` by `adjust` (and, with `op.counts`, by the counts kept on the GPU), then `out[i]` = row
 * i's pick, counted where counts are kept (see PickOp).
 */
export function pickPlan(op: PickOp): Plan[] {
  const { x, n, k, counts } = op;
  checkShape(x, "pick x", { rows: n });
  checkShape(op.params, "pick params", { rows: n, cols: 8 });
  checkShape(op.adjust, "pick adjust", { rows: k, cols: 4 });
  checkShape(op.out, "pick out", { rows: n, dtype: "i32" });
  const xb = gpu(x, "pick x"), prm = gpu(op.params, "pick params"), adjust = gpu(op.adjust, "pick adjust");
  const out = gpu(op.out, "pick out");
  const plans: Plan[] = [];
  // One thread per column of each row (z: the row).
  const perColumn = grid(Math.ceil(x.cols / 64), n);
  if (counts) {
    checkShape(counts.table, "pick counts", { rows: 1, cols: x.cols, dtype: "i32" });
    checkShape(counts.rows, "pick count rows", { rows: n, dtype: "i32" });
    const table = [gpu(counts.rows, "pick count rows"), gpu(counts.table, "pick counts")];
    if (counts.load) {
      plans.push({
        key: "pickCountsClear",
        code: clearCode,
        params: Uint32Array.of(n, x.cols),
        buffers: [prm, ...table],
        dispatch: perColumn,
      });
    }
    if (k > 0) {
      plans.push({
        key: "pickAdjustCounts",
        code: adjustCountsCode,
        params: Uint32Array.of(k, x.cols, counts.load ? 1 : 0),
        buffers: [xb, prm, adjust, ...table],
        dispatch: threads(k),
      });
    }
    plans.push({
      key: "pickPenalize",
      code: penalizeCode,
      params: Uint32Array.of(n, x.cols),
      buffers: [xb, prm, ...table],
      dispatch: perColumn,
    });
  } else if (k > 0) {
    plans.push({
      key: "pickAdjust",
      code: adjustCode,
      params: Uint32Array.of(k, x.cols),
      buffers: [xb, prm, adjust],
      dispatch: threads(k),
    });
  }
  plans.push({
    key: "pick",
    code: pickCode,
    params: Uint32Array.of(n, x.cols),
    buffers: [xb, prm, out],
    dispatch: grid(n),
  });
  if (counts) {
    plans.push({
      key: "pickCountsRecord",
      code: recordCode,
      params: Uint32Array.of(n, x.cols),
      buffers: [prm, out, gpu(counts.rows, "pick count rows"), gpu(counts.table, "pick counts")],
      dispatch: threads(n),
    });
  }
  return plans;
}
