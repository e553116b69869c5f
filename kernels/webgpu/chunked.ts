/**
 * The chunk-parallel form of a decayed outer-product recurrence, S ← keep·S + add·(v ⊗ k), out =
 * S·q per (run, head) with S `[valueDim][DK]`, shared by RetNet's retention (retention_chunked.ts)
 * and Mamba-2's SSD scan (ssd_chunked.ts); keep and add are per token and head. A run of at least
 * {@linkcode CHUNK} tokens is cut into chunks of CHUNK tokens from its start, and three passes
 * follow (the recurrence's sums in another order):
 *
 * 1. every chunk at once: its own state from zero, Σ_j add_j · Π_{u>j} keep_u · v_j ⊗ k_j (a small
 *    matmul of its values by its keys), and its whole decay Π keep;
 * 2. a scan over each run's chunks, one thread per state element: the state each chunk begins
 *    with (S ← decay · S + own), written over the chunk's own state; the run's last state goes to
 *    its arena slot;
 * 3. every chunk at once: out_t = Σ_{j≤t} add_j · Π_{u=j+1..t} keep_u · (q_t · k_j) · v_j, plus
 *    Π_{u≤t} keep_u · (q_t · the chunk's first state).
 *
 * Shorter runs (decode, and a prefill's short tail steps) are left to the recurrence.
 *
 * Chunks are found from the row table alone (no host work per step): chunk slot 2b holds the
 * first chunk of a long run starting among rows bC..bC+C-1, slot 2b + 1 the later chunk of a run
 * begun earlier that starts there. As every run here is at least C long, each block of C rows has
 * at most one of each, so `2 · ⌈n / C⌉` slots of `[heads][valueDim][DK]` floats are enough.
 *
 * @module
 */

import { grid, type Plan } from "./plan.ts";
import { BUILTINS, FLAT, RUNS } from "./wgsl.ts";

/** Tokens per chunk; runs this long or longer take the chunked form. */
export const CHUNK = 16;

/** Chunk slots of a step of `n` rows. */
export function chunkSlots(n: number): number {
  return 2 * Math.ceil(n / CHUNK);
}

/** Bytes of scratch a step of `n` rows needs: every slot's state, then every slot's decay per head. */
export function chunkedScratchBytes(n: number, heads: number, stateSize: number): number {
  return chunkSlots(n) * heads * (stateSize + 1) * 4;
}

/** Value channels × key indices of one workgroup's part of a chunk's own state (pass 1). */
const TILE = 16;
/** Value channels of one workgroup's outputs (pass 3): 64 threads as C tokens × 4 groups of 8. */
const OUT_CHANNELS = 32;

/**
 * Functions of all three passes. Needs constant `DK`, parameters `p.n, p.heads, p.valueDim,
 * p.arenaCols, p.offset` (the state's `[heads][valueDim][DK]` in each slot's arena row) and
 * bindings `slot`, `first` and `scratch`.
 */
const COMMON = `
const C = ${CHUNK}u;
${FLAT}
${RUNS}
// Tokens of the run from row r on, counted up to most.
fn runLeft(r: u32, most: u32) -> u32 {
  var e = r + 1u;
  loop {
    if (e >= p.n || e - r >= most || first[e] == 1) { break; }
    e += 1u;
  }
  return e - r;
}
fn runStartOf(r: u32) -> u32 {
  var s = r;
  loop {
    if (startsRun(s)) { break; }
    s -= 1u;
  }
  return s;
}
// The chunk in chunk slot cs as (first row, tokens); 0 tokens: the slot is empty this step.
fn chunkAt(cs: u32) -> vec2<u32> {
  let lo = (cs / 2u) * C;
  if (lo >= p.n) { return vec2<u32>(0u, 0u); }
  let hi = min(lo + C, p.n);
  if (cs % 2u == 0u) {
    for (var r = lo; r < hi; r++) {
      if (startsRun(r) && runLeft(r, C) == C) { return vec2<u32>(r, C); }
    }
    return vec2<u32>(0u, 0u);
  }
  let rs = runStartOf(lo);
  if (rs == lo || runLeft(rs, C) < C) { return vec2<u32>(0u, 0u); }
  let s = rs + ((lo - rs + C - 1u) / C) * C;
  for (var r = lo + 1u; r <= s; r++) {
    if (r >= hi || first[r] == 1) { return vec2<u32>(0u, 0u); } // the run ended before s
  }
  return vec2<u32>(s, runLeft(s, C));
}
fn stateAt(cs: u32, h: u32, a: u32, i: u32) -> u32 { return ((cs * p.heads + h) * p.valueDim + a) * DK + i; }
fn decayAt(cs: u32, h: u32) -> u32 {
  return 2u * ((p.n + C - 1u) / C) * p.heads * p.valueDim * DK + cs * p.heads + h;
}
var<workgroup> found: vec2<u32>;
// The workgroup's chunk, found by its first thread.
fn chunkOf(cs: u32, lid: u32) -> vec2<u32> {
  if (lid == 0u) { found = chunkAt(cs); }
  return workgroupUniformLoad(&found);
}
`;

/** Pass 1: one workgroup per (chunk slot, head, TILE value channels, TILE key indices). */
const OWN = `
const T = ${TILE}u;
var<workgroup> kS: array<f32, ${CHUNK * TILE}>; // [C][T] keys
var<workgroup> vS: array<f32, ${CHUNK * TILE}>; // [C][T] values × add_j · Π_{u>j} keep_u
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let tilesA = (p.valueDim + T - 1u) / T;
  let tilesI = (DK + T - 1u) / T;
  let g = flatGroup(wid, nwg);
  let cs = g / (p.heads * tilesA * tilesI);
  let h = (g / (tilesA * tilesI)) % p.heads;
  let a0 = ((g / tilesI) % tilesA) * T;
  let i0 = (g % tilesI) * T;
  let chunk = chunkOf(cs, lid);
  if (chunk.y == 0u) { return; }
  let start = chunk.x;
  let len = chunk.y;
  for (var e = lid; e < C * T; e += 64u) {
    let j = e / T;
    let c = e % T;
    var kv = 0.0;
    var vv = 0.0;
    if (j < len) {
      if (i0 + c < DK) { kv = kOf(start + j, h, i0 + c); }
      if (a0 + c < p.valueDim) {
        var w = addOf(start + j, h);
        for (var u = j + 1u; u < len; u++) { w *= keepOf(start + u, h); }
        vv = w * vOf(start + j, h, a0 + c);
      }
    }
    kS[e] = kv;
    vS[e] = vv;
  }
  if (lid == 0u && a0 == 0u && i0 == 0u) {
    var all = 1.0;
    for (var u = 0u; u < len; u++) { all *= keepOf(start + u, h); }
    scratch[decayAt(cs, h)] = all;
  }
  workgroupBarrier();
  let a = lid / 4u;
  for (var c = 0u; c < 4u; c++) {
    let i = (lid % 4u) * 4u + c;
    var s = 0.0;
    for (var j = 0u; j < C; j++) { s += vS[j * T + a] * kS[j * T + i]; }
    if (a0 + a < p.valueDim && i0 + i < DK) { scratch[stateAt(cs, h, a0 + a, i0 + i)] = s; }
  }
}`;

/** Pass 2: one thread per (block of C rows, head, state element); only a long run's first block works. */
const SCAN = `
var<workgroup> runEnd_: u32;
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let size = p.heads * p.valueDim * DK;
  let g = flatGroup(wid, nwg);
  let groupsPerBlock = (size + 63u) / 64u;
  let b = g / groupsPerBlock;
  let chunk = chunkOf(2u * b, lid);
  if (chunk.y == 0u) { return; }
  let rs = chunk.x;
  if (lid == 0u) { runEnd_ = runEnd(rs, p.n); }
  let re = workgroupUniformLoad(&runEnd_);
  let e = (g % groupsPerBlock) * 64u + lid;
  if (e >= size) { return; }
  let h = e / (p.valueDim * DK);
  let at = slotOf(rs) * p.arenaCols + p.offset + e;
  var s = arena[at];
  for (var t = rs; t < re; t += C) {
    let cs = 2u * (t / C) + select(0u, 1u, t > rs);
    let o = cs * size + e;
    let own = scratch[o];
    scratch[o] = s;
    s = scratch[decayAt(cs, h)] * s + own;
  }
  arena[at] = s;
}`;

/** Pass 3: one workgroup per (chunk slot, head, OUT_CHANNELS value channels); thread = (token, 8 channels). */
const OUT = `
const CH = ${OUT_CHANNELS}u;
var<workgroup> score: array<f32, ${CHUNK * CHUNK}>; // [C][C] add_j · Π_{u=j+1..t} keep_u · (q_t · k_j), j ≤ t
var<workgroup> reach: array<f32, ${CHUNK}>; // [C] Π_{u≤t} keep_u: the chunk's first state's share in token t
var<workgroup> vS: array<f32, ${CHUNK * OUT_CHANNELS}>; // [C][CH] values
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let tiles = (p.valueDim + CH - 1u) / CH;
  let g = flatGroup(wid, nwg);
  let cs = g / (p.heads * tiles);
  let h = (g / tiles) % p.heads;
  let a0 = (g % tiles) * CH;
  let chunk = chunkOf(cs, lid);
  if (chunk.y == 0u) { return; }
  let start = chunk.x;
  let len = chunk.y;
  for (var e = lid; e < C * C; e += 64u) {
    let t = e / C;
    let j = e % C;
    var s = 0.0;
    if (j <= t && t < len) {
      var w = addOf(start + j, h);
      for (var u = j + 1u; u <= t; u++) { w *= keepOf(start + u, h); }
      var qk = 0.0;
      for (var i = 0u; i < DK; i++) { qk += qOf(start + t, h, i) * kOf(start + j, h, i); }
      s = w * qk;
    }
    score[e] = s;
  }
  if (lid < C) {
    var r = 1.0;
    for (var u = 0u; u <= min(lid, len - 1u); u++) { r *= keepOf(start + u, h); }
    reach[lid] = r;
  }
  for (var e = lid; e < C * CH; e += 64u) {
    let j = e / CH;
    let a = a0 + e % CH;
    vS[e] = select(0.0, vOf(start + j, h, min(a, p.valueDim - 1u)), j < len && a < p.valueDim);
  }
  workgroupBarrier();
  let t = lid % C;
  if (t >= len) { return; }
  for (var c = 0u; c < 8u; c++) {
    let ac = (lid / C) * 8u + c;
    let a = a0 + ac;
    if (a >= p.valueDim) { break; }
    var acc = 0.0;
    for (var j = 0u; j <= t; j++) { acc += score[t * C + j] * vS[j * CH + ac]; }
    let so = stateAt(cs, h, a, 0u);
    var qs = 0.0;
    for (var i = 0u; i < DK; i++) { qs += qOf(start + t, h, i) * scratch[so + i]; }
    put(start + t, h, a, acc + reach[t] * qs);
  }
}`;

/** What the chunked passes of one op share: its WGSL header and its bindings. */
export interface ChunkedSpec {
  /** Key prefix naming the op and its compile-time constants. */
  readonly key: string;
  /**
   * The op's struct `P`, constant `DK`, bindings (all of `buffers`, `scratch` last) and accessors:
   * `keepOf(t, h)`, `addOf(t, h)`, `qOf(t, h, i)`, `kOf(t, h, i)`, `vOf(t, h, a)` and
   * `put(t, h, a, value)` (writes the output).
   */
  readonly header: string;
  readonly params: Uint32Array<ArrayBuffer>;
  /** Every buffer the header binds, in order (scratch last). */
  readonly buffers: readonly GPUBuffer[];
  readonly n: number;
  readonly heads: number;
  readonly valueDim: number;
  readonly keyDim: number;
}

/** The three passes (see the module's description), each binding all of the op's buffers. */
export function chunkedPlans(spec: ChunkedSpec): Plan[] {
  const { n, heads: H, valueDim: V, keyDim: DK } = spec;
  const slots = chunkSlots(n);
  const pass = (name: string, main: string, groups: number): Plan => ({
    key: `${spec.key}_${name}`,
    code: () => `${spec.header}${COMMON}${main}`,
    params: spec.params,
    buffers: spec.buffers,
    dispatch: grid(groups),
    allBound: true,
  });
  return [
    pass("own", OWN, slots * H * Math.ceil(V / TILE) * Math.ceil(DK / TILE)),
    pass("scan", SCAN, (slots / 2) * Math.ceil((H * V * DK) / 64)),
    pass("out", OUT, slots * H * Math.ceil(V / OUT_CHANNELS)),
  ];
}
