import { type Backend, type Op, PICK_PARAMS, type Tensor } from "../../kernels/mod.ts";
import type { AheadEntry, DevicePick } from "../types.ts";

/** What {@linkcode createPickBuffers} needs from the runner. */
export interface PickTensors {
  /** `[slots + 1][stateSize]` the state arena. */
  readonly arena: Tensor;
  /** `[slots + 1][vocab]` logits of a step's emitted rows. */
  readonly logits: Tensor;
  /** `[chunk][1]` i32 token ids a step reads. */
  readonly ids: Tensor;
  /** `[chunk][1]` i32 the slot of each row. */
  readonly rowSlots: Tensor;
}

/** The op lists of greedy picks and of steps run ahead (see {@linkcode createPickBuffers}). */
export interface PickBuffers {
  /** `[slots + 1][vocab]` each slot's logits after its last `argmax` step. */
  readonly kept: Tensor;
  /** `[slots + 1][1]` i32 the picks of the last step's emitted rows. */
  readonly picks: Tensor;
  /**
   * After a step's ops: its `m` emitted rows' logits kept by slot, their picks in `picks` and by slot:
   * the argmax, or where `rules` has a pick, that pick (the rows' logits are then adjusted in place).
   * A penalized rule's counts are kept by slot on the backend, each pick counted: a step the host fed
   * loads them from its rule's `counts`; a step run `ahead` uses those kept (its rules' ignored).
   */
  pickOps(
    m: number,
    slotsOfRows: readonly number[],
    rules?: readonly (DevicePick | undefined)[],
    ahead?: boolean,
  ): Op[];
  /** Before a step run ahead (one row per entry): snapshots of its slots, then its ids from the last picks. */
  aheadOps(entries: readonly AheadEntry[]): Op[];
  /** Puts a slot's state and kept logits back from a snapshot. */
  restoreOps(slot: number, snapshot: number): Op[];
  /** Snapshot `i`'s copies of the state arena and of `kept` (a RangeError if it was never taken). */
  snapshot(i: number): { readonly state: Tensor; readonly kept: Tensor };
}

/**
 * The runner's greedy picks on the backend and its steps run ahead of the host. A pick step keeps
 * each emitted row's logits in its slot's row of `kept`, and its argmax in `picks` and in its slot's
 * row of `next`; a step run ahead gathers each row's token id from `next` (so it can be queued before
 * the previous step's pick reaches the host), after copying its slots' rows of the state arena and of
 * `kept` into snapshot buffer `entry.snapshot` (each the arena's and `kept`'s shape, made on first
 * use: a session's snapshots 0..d-1 serve its d steps in flight).
 *
 * The penalties' counts of a penalized pick live in `counts` (`[slots + 1][vocab]` i32, made on first
 * use: 4 bytes per slot and token id, 17 × 65,536 × 4 = 4.5 MB at 16 slots): every step the host
 * feeds writes its row from the rule's counts (the sampler's, so they are always the host's), and
 * every penalized pick adds one to its id, so a step run ahead sees the picks before it without the
 * host. Steps run ahead and never fed need no undoing there: the slot's next step the host feeds
 * loads its counts again.
 */
export function createPickBuffers(backend: Backend, t: PickTensors): PickBuffers {
  const rows = t.logits.rows;
  const kept = backend.tensor(rows, t.logits.cols);
  const picks = backend.tensor(rows, 1, "i32");
  const next = backend.tensor(rows, 1, "i32");
  const emitSlots = backend.tensor(rows, 1, "i32");
  const restoreIndex = backend.tensor(1, 1, "i32");
  const params = backend.tensor(rows, PICK_PARAMS.length);
  let adjust: Tensor | undefined; // [k][4] grown as needed
  let counts: Tensor | undefined; // [slots + 1][vocab] i32 the penalties' counts, made on first use
  const snapshots: { state: Tensor; kept: Tensor; index: Tensor }[] = [];
  const cache = new Map<string, Op[]>();
  const cached = (key: string, make: () => Op[]) => {
    let ops = cache.get(key);
    if (!ops) cache.set(key, ops = make());
    return ops;
  };
  const snapshot = (i: number) => {
    while (snapshots.length <= i) {
      snapshots.push({
        state: backend.tensor(t.arena.rows, t.arena.cols),
        kept: backend.tensor(rows, t.logits.cols),
        index: backend.tensor(rows, 1, "i32"),
      });
    }
    return snapshots[i];
  };
  const taken = (i: number) => {
    if (!(i < snapshots.length)) throw new RangeError(`Snapshot ${i} was never taken`);
    return snapshots[i];
  };
  return {
    kept,
    picks,
    snapshot: taken,
    pickOps(m, slotsOfRows, rules, ahead = false) {
      backend.write(emitSlots, Int32Array.from(slotsOfRows));
      if (rules?.some((r) => r !== undefined)) {
        // Ahead, the counts are those kept: only the bias goes up.
        const tables = pickTables(rules, t.logits.cols, !ahead);
        const penalties = rules.some((r) => r && penalizes(r))
          ? { table: counts ??= backend.tensor(rows, t.logits.cols, "i32"), rows: emitSlots, load: !ahead }
          : undefined;
        const k = tables.adjust.length / 4;
        if (!adjust || adjust.rows < k) adjust = backend.tensor(Math.max(k, 2 * (adjust?.rows ?? 16)), 4);
        // Every row of `adjust` is run, those past k marked unused (count -1): one op list per capacity.
        const padded = new Float32Array(adjust.rows * 4).fill(-1);
        padded.set(tables.adjust);
        backend.write(params, tables.params);
        backend.write(adjust, padded);
        const a = adjust;
        const mode = penalties ? (penalties.load ? "load" : "kept") : "none";
        return cached(`sample ${m} ${a.rows} ${mode}`, () => [
          { op: "scatter", x: t.logits, index: emitSlots, out: kept, n: m },
          { op: "pick", x: t.logits, params, adjust: a, k: a.rows, out: picks, n: m, counts: penalties },
          { op: "scatter", x: picks, index: emitSlots, out: next, n: m },
        ]);
      }
      return cached(`pick ${m}`, () => [
        { op: "scatter", x: t.logits, index: emitSlots, out: kept, n: m },
        { op: "argmax", x: t.logits, out: picks, n: m },
        { op: "scatter", x: picks, index: emitSlots, out: next, n: m },
      ]);
    },
    aheadOps(entries) {
      const ops: Op[] = [];
      const bySnapshot = Map.groupBy(entries, (e) => e.snapshot);
      for (const [i, group] of bySnapshot) {
        const s = snapshot(i);
        backend.write(s.index, Int32Array.from(group, (e) => e.slot));
        ops.push(...cached(`snapshot ${i} ${group.length}`, () => [
          { op: "copyRows", x: t.arena, index: s.index, out: s.state, n: group.length },
          { op: "copyRows", x: kept, index: s.index, out: s.kept, n: group.length },
        ]));
      }
      const n = entries.length;
      ops.push(...cached(`ids ${n}`, () => [{ op: "gather", x: next, index: t.rowSlots, out: t.ids, n }]));
      return ops;
    },
    restoreOps(slot, i) {
      const s = taken(i);
      backend.write(restoreIndex, Int32Array.of(slot));
      return cached(`restore ${i}`, () => [
        { op: "copyRows", x: s.state, index: restoreIndex, out: t.arena, n: 1 },
        { op: "copyRows", x: s.kept, index: restoreIndex, out: kept, n: 1 },
      ]);
    },
  };
}

/** Whether a pick's rule penalizes tokens already picked (its counts then matter). */
export function penalizes(r: DevicePick): boolean {
  return r.presencePenalty !== 0 || r.frequencyPenalty !== 0 || r.repetitionPenalty !== 1;
}

/**
 * A pick op's tables for rows ruled by `rules` (undefined: the argmax): each row's PICK_PARAMS, and
 * one `[row, id, bias, count]` per token a row's bias or penalties change (count 0 when the row has
 * no penalty, or `withCounts` is false: the counts are kept on the backend; ids at or past `vocab`
 * left out, as the host's logit bias ignores them).
 */
export function pickTables(
  rules: readonly (DevicePick | undefined)[],
  vocab: number,
  withCounts = true,
): { params: Float32Array; adjust: Float32Array } {
  const params = new Float32Array(rules.length * PICK_PARAMS.length);
  const adjust: number[] = [];
  rules.forEach((r, row) => {
    if (!r) {
      params.set([0, 0, 1, 0, 0, 0, 0, 1], row * PICK_PARAMS.length);
      return;
    }
    // u floored to f32's 24 bits, so it stays below 1
    const u = Math.floor(r.u * 2 ** 24) / 2 ** 24;
    params.set(PICK_PARAMS.map((name) => name === "u" ? u : r[name]), row * PICK_PARAMS.length);
    const counted = withCounts && penalizes(r);
    const ids = new Set([...r.bias.keys(), ...(counted ? r.counts.keys() : [])]);
    for (const id of ids) {
      if (id < vocab) adjust.push(row, id, r.bias.get(id) ?? 0, counted ? r.counts.get(id) ?? 0 : 0);
    }
  });
  return { params, adjust: Float32Array.from(adjust) };
}
