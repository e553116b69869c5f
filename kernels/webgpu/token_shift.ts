/**
 * Token shift: one dispatch per mix (one thread per element; the previous token is row r - 1,
 * or the slot's saved row where a run starts), then one that saves each run's last row.
 *
 * @module
 */

import type { TokenShiftOp } from "../ops.ts";
import { checkRow, checkShape, checkState, gpu, type Plan, rowBuffers, threads } from "./plan.ts";
import { BUILTINS, FLAT, RUNS } from "./wgsl.ts";

const HEADER = `
struct P { n: u32, cols: u32, arenaCols: u32, offset: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // [n][cols]
@group(0) @binding(2) var<storage, read_write> arena: array<f32>; // [slots][arenaCols]; the row at offset
@group(0) @binding(3) var<storage, read_write> slot: array<i32>; // [n]
@group(0) @binding(4) var<storage, read_write> first: array<i32>; // [n]
${FLAT}
${RUNS}`;

const mixCode = (form: "lerp" | "mix") => () =>
  `${HEADER}
@group(0) @binding(5) var<storage, read_write> coef: array<f32>; // [cols]
@group(0) @binding(6) var<storage, read_write> out: array<f32>; // [n][cols]
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.cols) { return; }
  let t = i / p.cols;
  let c = i % p.cols;
  let cur = x[i];
  var prev: f32;
  if (startsRun(t)) { prev = arena[slotOf(t) * p.arenaCols + p.offset + c]; } else { prev = x[i - p.cols]; }
  out[i] = ${form === "lerp" ? "cur + (prev - cur) * coef[c]" : "cur * coef[c] + prev * (1.0 - coef[c])"};
}`;

const saveCode = () =>
  `${HEADER}
@compute @workgroup_size(64)
fn main(${BUILTINS}) {
  let i = flatThread(wid, nwg, lid);
  if (i >= p.n * p.cols) { return; }
  let t = i / p.cols;
  if (t + 1u < p.n && first[t + 1u] != 1) { return; }
  arena[slotOf(t) * p.arenaCols + p.offset + i % p.cols] = x[i];
}`;

/** A dispatch per mix, then the save of each run's last row. */
export function tokenShiftPlan(op: TokenShiftOp): Plan[] {
  const { x, n, state, rows } = op;
  checkShape(x, "token shift x", { rows: n });
  checkState(state, x.cols, "token shift state");
  const params = Uint32Array.of(n, x.cols, state.arena.cols, state.offset);
  const common = [
    gpu(x, "token shift x"),
    gpu(state.arena, "state arena"),
    ...rowBuffers(rows, n),
  ];
  const mixes = op.mixes.map(({ coef, out }): Plan => {
    checkRow(coef, x.cols, "token shift coefficient");
    checkShape(out, "token shift out", { rows: n, cols: x.cols });
    if (out.handle === x.handle) throw new RangeError("Token shift cannot write its input");
    return {
      key: `token_shift_${op.form}`,
      code: mixCode(op.form),
      params,
      buffers: [...common, gpu(coef, "token shift coefficient"), gpu(out, "token shift out")],
      dispatch: threads(n * x.cols),
    };
  });
  return [...mixes, {
    key: "token_shift_save",
    code: saveCode,
    params,
    buffers: common,
    dispatch: threads(n * x.cols),
  }];
}
