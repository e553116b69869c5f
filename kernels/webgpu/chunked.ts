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
 * at most one of each, so `2 · ⌈n / C⌉` slots of `[heads][DK][valueDim]` floats are enough (the
 * state transposed, so that a thread per value channel reads and writes adjacent floats).
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

/** Key indices a thread sums at once (pass 1) and queries staged at once (pass 3). */
const KEYS = 16;

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
// A chunk's state element (h, a, i) in scratch: [slot][heads][DK][valueDim] (channels adjacent).
fn stateAt(cs: u32, h: u32, i: u32, a: u32) -> u32 { return ((cs * p.heads + h) * DK + i) * p.valueDim + a; }
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

/**
 * Pass 1: one workgroup per (chunk slot, head, 64 value channels, KEYS key indices), a thread per
 * channel a summing its column of the chunk's own state over the chunk's tokens (the keys shared).
 */
const OWN = `
const KEYS = ${KEYS}u;
var<workgroup> kS: array<f32, ${CHUNK * KEYS}>; // [C][KEYS] keys
var<workgroup> weight: array<f32, ${CHUNK}>; // [C] add_j · Π_{u>j} keep_u
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let tilesA = (p.valueDim + 63u) / 64u;
  let tilesI = (DK + KEYS - 1u) / KEYS;
  let g = flatGroup(wid, nwg);
  let cs = g / (p.heads * tilesA * tilesI);
  let h = (g / (tilesA * tilesI)) % p.heads;
  let a = ((g / tilesI) % tilesA) * 64u + lid;
  let i0 = (g % tilesI) * KEYS;
  let chunk = chunkOf(cs, lid);
  if (chunk.y == 0u) { return; }
  let start = chunk.x;
  let len = chunk.y;
  for (var e = lid; e < C * KEYS; e += 64u) {
    let j = e / KEYS;
    let i = i0 + e % KEYS;
    kS[e] = select(0.0, kOf(start + j, h, min(i, DK - 1u)), j < len && i < DK);
  }
  if (lid < C) {
    var w = 0.0;
    if (lid < len) {
      w = addOf(start + lid, h);
      for (var u = lid + 1u; u < len; u++) { w *= keepOf(start + u, h); }
    }
    weight[lid] = w;
  }
  if (lid == 0u && g % (tilesA * tilesI) == 0u) {
    var all = 1.0;
    for (var u = 0u; u < len; u++) { all *= keepOf(start + u, h); }
    scratch[decayAt(cs, h)] = all;
  }
  workgroupBarrier();
  if (a >= p.valueDim) { return; }
  var acc: array<f32, KEYS>;
  for (var c = 0u; c < KEYS; c++) { acc[c] = 0.0; }
  for (var j = 0u; j < len; j++) {
    let vw = weight[j] * vOf(start + j, h, a);
    for (var c = 0u; c < KEYS; c++) { acc[c] += vw * kS[j * KEYS + c]; }
  }
  for (var c = 0u; c < KEYS; c++) {
    if (i0 + c < DK) { scratch[stateAt(cs, h, i0 + c, a)] = acc[c]; }
  }
}`;

/**
 * Pass 2: one thread per state element (in the scratch's order), walking the blocks of C rows for
 * long runs starting there, and each such run's chunks.
 */
const SCAN = `
var<workgroup> end: u32;
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let size = p.heads * DK * p.valueDim;
  let e = flatThread(wid, nwg, lid); // (h, i, a)
  let h = min(e, size - 1u) / (DK * p.valueDim);
  let i = (e / p.valueDim) % DK;
  let a = e % p.valueDim;
  for (var b = 0u; b * C < p.n; b++) {
    workgroupBarrier(); // every thread has read the last block's found and end
    let chunk = chunkOf(2u * b, lid);
    if (chunk.y == 0u) { continue; }
    let rs = chunk.x;
    if (lid == 0u) { end = runEnd(rs, p.n); }
    let re = workgroupUniformLoad(&end);
    if (e >= size) { continue; }
    let at = slotOf(rs) * p.arenaCols + p.offset + (h * p.valueDim + a) * DK + i;
    var s = arena[at];
    for (var t = rs; t < re; t += C) {
      let cs = 2u * (t / C) + select(0u, 1u, t > rs);
      let o = cs * size + e;
      let own = scratch[o];
      scratch[o] = s;
      s = scratch[decayAt(cs, h)] * s + own;
    }
    arena[at] = s;
  }
}`;

/**
 * Pass 3: one workgroup per (chunk slot, head, 64 value channels): the chunk's scores first (shared),
 * then a thread per channel a keeps the outputs of all C tokens, the queries shared.
 */
const OUT = `
const KEYS = ${KEYS}u;
var<workgroup> score: array<f32, ${CHUNK * CHUNK}>; // [C][C] add_j · Π_{u=j+1..t} keep_u · (q_t · k_j), j ≤ t
var<workgroup> reach: array<f32, ${CHUNK}>; // [C] Π_{u≤t} keep_u: the chunk's first state's share in token t
var<workgroup> qS: array<f32, ${CHUNK * KEYS}>; // [C][KEYS] queries, KEYS key indices at a time
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let tiles = (p.valueDim + 63u) / 64u;
  let g = flatGroup(wid, nwg);
  let cs = g / (p.heads * tiles);
  let h = (g / tiles) % p.heads;
  let a = (g % tiles) * 64u + lid;
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
  let ac = min(a, p.valueDim - 1u); // threads past the channels share the loads and barriers, store nothing
  var acc: array<f32, C>;
  for (var t = 0u; t < C; t++) { acc[t] = 0.0; }
  for (var i0 = 0u; i0 < DK; i0 += KEYS) {
    workgroupBarrier();
    for (var e = lid; e < C * KEYS; e += 64u) {
      let t = e / KEYS;
      let i = i0 + e % KEYS;
      qS[e] = select(0.0, qOf(start + t, h, min(i, DK - 1u)), t < len && i < DK);
    }
    workgroupBarrier();
    for (var c = 0u; c < KEYS; c++) {
      let s = scratch[stateAt(cs, h, min(i0 + c, DK - 1u), ac)]; // past DK: times a zero query
      for (var t = 0u; t < C; t++) { acc[t] += qS[t * KEYS + c] * s; }
    }
  }
  for (var t = 0u; t < C; t++) { acc[t] *= reach[t]; }
  for (var j = 0u; j < len; j++) {
    let vj = vOf(start + j, h, ac);
    for (var t = 0u; t < C; t++) { acc[t] += score[t * C + j] * vj; } // 0 where t < j
  }
  if (a >= p.valueDim) { return; }
  for (var t = 0u; t < len; t++) { put(start + t, h, a, acc[t]); }
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
    pass("own", OWN, slots * H * Math.ceil(V / 64) * Math.ceil(DK / KEYS)),
    pass("scan", SCAN, Math.ceil((H * V * DK) / 64)),
    pass("out", OUT, slots * H * Math.ceil(V / 64)),
  ];
}
