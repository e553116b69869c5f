import type { Backend, Op, Rows, StateRef, Tensor } from "../../kernels/mod.ts";
import type { AheadEntry, ModelInfo, RecurrentModel, RecurrentState, StepEntry } from "../types.ts";
import { createPickBuffers, type PickBuffers } from "./picks.ts";

/** What a family's graph builder gets: the step's inputs and outputs, and where to keep its own tensors. */
export interface GraphContext {
  /** The backend the ops run on. */
  readonly backend: Backend;
  /** Most rows of one step (tokens of a prefill chunk, or sessions of a decode step). */
  readonly chunk: number;
  /** `[chunk][1]` i32 token ids. */
  readonly ids: Tensor;
  /** Which state slot each row reads and writes. */
  readonly rows: Rows;
  /** `[slots + 1][1]` i32: the rows whose logits are wanted. */
  readonly emit: Tensor;
  /** `[slots + 1][vocab]` logits of the emitted rows. */
  readonly logits: Tensor;
  /** Part `offset .. offset + size` of every slot's state. */
  state(offset: number, size: number): StateRef;
  /** A `[chunk][cols]` working tensor. */
  buffer(cols: number): Tensor;
  /** A `[1][values.length]` tensor holding `values` (norm weights, biases, coefficients). */
  constant(values: Float32Array): Tensor;
}

/**
 * A family's model: given the context, a function that records one step over `n` rows, ending
 * with the logits of the `m` rows listed in `emit` (m may be 0: a prefill chunk that is not the last).
 */
export type GraphBuilder = (ctx: GraphContext) => (n: number, m: number) => Op[];

/** What a family contributes to a model: its description, its step and its state. */
export interface FamilyModel {
  /** What the model is. */
  readonly info: ModelInfo;
  /** The family's step. */
  readonly graph: GraphBuilder;
  /** A fresh host state (the family's typed view of a zeroed state). */
  readonly newState: () => RecurrentState;
}

/** Options of {@linkcode createRecurrentModel}. */
export interface RunnerOptions extends FamilyModel {
  /** The backend holding its weights. */
  readonly backend: Backend;
  /** Most rows per step. */
  readonly chunk: number;
  /** State slots of the arena (sessions that can be resident at once; default 16). */
  readonly slots?: number;
}

/** The default number of state slots: sessions that can decode in one step. */
export const DEFAULT_SLOTS = 16;

/**
 * A model on the op-list design: every session's state lives in a slot of one arena tensor
 * in backend memory, and one recorded step serves a prefill chunk (one slot, many rows) and a
 * batched decode (many slots, one row each) alike. `forward` is the synchronous single-session
 * path of CPU backends: it loads the state into a spare slot, runs, and reads it back.
 */
export function createRecurrentModel(options: RunnerOptions): RecurrentModel {
  const { info, backend, chunk } = options;
  const slots = options.slots ?? DEFAULT_SLOTS;
  const emitRows = slots + 1;
  const arena = backend.tensor(slots + 1, info.stateSize);
  const ids = backend.tensor(chunk, 1, "i32");
  const rows: Rows = { slot: backend.tensor(chunk, 1, "i32"), first: backend.tensor(chunk, 1, "i32") };
  const emit = backend.tensor(emitRows, 1, "i32");
  const logits = backend.tensor(emitRows, info.vocabSize);
  const constants = new Map<Float32Array, Tensor>();
  const ctx: GraphContext = {
    backend,
    chunk,
    ids,
    rows,
    emit,
    logits,
    state: (offset, size) => ({ arena, offset, size }),
    buffer: (cols) => backend.tensor(chunk, cols),
    constant(values) {
      let t = constants.get(values);
      if (!t) {
        t = backend.tensor(1, values.length);
        backend.write(t, values);
        constants.set(values, t);
      }
      return t;
    },
  };
  const build = options.graph(ctx);
  const graphs = new Map<number, Op[]>();
  const graph = (n: number, m: number) => {
    const key = n * (emitRows + 1) + m;
    let ops = graphs.get(key);
    if (!ops) graphs.set(key, ops = build(n, m));
    return ops;
  };

  // Greedy picks on the backend (stepPicks, stepAhead), made on first use.
  let picking: PickBuffers | undefined;
  const picks = () => picking ??= createPickBuffers(backend, { arena, logits, ids, rowSlots: rows.slot });

  // Writes the step's row table (and its token ids unless a step run ahead gathers them on the
  // backend); returns the ops and how many logits rows it emits.
  function prepare(entries: readonly StepEntry[], hostIds = true): { ops: Op[]; m: number } {
    const n = entries.reduce((sum, e) => sum + e.tokens.length, 0);
    if (n === 0 || n > chunk) throw new RangeError(`A step runs 1..${chunk} tokens, not ${n}`);
    const id = new Int32Array(n), slot = new Int32Array(n), first = new Int32Array(n);
    const wanted: number[] = [];
    let r = 0;
    for (const e of entries) {
      if (!Number.isInteger(e.slot) || e.slot < 0 || e.slot > slots) {
        throw new RangeError(`Slot ${e.slot} is outside 0..${slots}`);
      }
      if (e.tokens.length === 0) throw new RangeError("A step entry needs at least one token");
      e.tokens.forEach((token, i) => {
        checkToken(token, info.vocabSize);
        id[r] = token;
        slot[r] = e.slot;
        first[r] = i === 0 ? 1 : 0;
        r++;
      });
      if (e.logits !== false) wanted.push(r - 1);
    }
    if (wanted.length > emitRows) throw new RangeError(`A step returns at most ${emitRows} logits rows`);
    if (hostIds) backend.write(ids, id);
    backend.write(rows.slot, slot);
    backend.write(rows.first, first);
    backend.write(emit, Int32Array.from(wanted));
    return { ops: graph(n, wanted.length), m: wanted.length };
  }

  // The first `n` rows of `t` (none: no read), the read queued at once.
  const readRows = (t: Tensor, n: number) =>
    n > 0 ? backend.read(t, 0, n) : Promise.resolve(new Float32Array(0));

  // Logits rows as one array per entry that asked for them.
  function split(entries: readonly StepEntry[], all: Float32Array): (Float32Array | undefined)[] {
    const V = info.vocabSize;
    let i = 0;
    return entries.map((e) => (e.logits === false ? undefined : all.subarray(V * i, V * ++i)));
  }

  return {
    info,
    backend,
    chunk,
    slots,
    newState: options.newState,
    forward(tokens: ArrayLike<number>, state: RecurrentState): Float32Array {
      const sync = backend.sync;
      if (!sync) throw new TypeError(`The ${backend.name} backend runs asynchronously: use step()`);
      if (tokens.length === 0) throw new RangeError("forward() needs at least one token");
      const spare = slots;
      backend.write(arena, state.data, spare);
      let out: Float32Array | undefined;
      for (let start = 0; start < tokens.length; start += chunk) {
        const part = Array.prototype.slice.call(tokens, start, Math.min(start + chunk, tokens.length));
        const last = start + chunk >= tokens.length;
        const { ops, m } = prepare([{ slot: spare, tokens: part, logits: last }]);
        sync.execute(ops);
        if (last) out = sync.read(logits, 0, m);
      }
      state.data.set(sync.read(arena, spare, 1));
      return out!;
    },
    async step(entries: readonly StepEntry[]): Promise<(Float32Array | undefined)[]> {
      if (entries.some((e) => e.argmax)) throw new TypeError("argmax entries go to stepPicks(), not step()");
      const { ops, m } = prepare(entries);
      // The read is queued with the step, before any other step (run ahead) can be.
      const [, all] = await Promise.all([backend.submit(ops), readRows(logits, m)]);
      return split(entries, all);
    },
    async stepPicks(entries: readonly StepEntry[]): Promise<(Float32Array | number | undefined)[]> {
      const { ops, m } = prepare(entries);
      if (!entries.some((e) => e.argmax && e.logits !== false)) {
        const [, all] = await Promise.all([backend.submit(ops), readRows(logits, m)]);
        return split(entries, all);
      }
      const wanted = entries.filter((e) => e.logits !== false);
      const p = picks();
      const rules = wanted.map((e) => (e.argmax ? e.pick : undefined));
      const submitted = backend.submit([...ops, ...p.pickOps(m, wanted.map((e) => e.slot), rules)]);
      // Rows up to the last one whose logits are wanted; picks only where argmax is. Both reads are
      // queued with the step, before any other step (run ahead) can be.
      const full = wanted.findLastIndex((e) => !e.argmax) + 1;
      const [, all, picked] = await Promise.all([submitted, readRows(logits, full), readRows(p.picks, m)]);
      const V = info.vocabSize;
      let i = 0;
      return entries.map((e) => {
        if (e.logits === false) return undefined;
        const row = i++;
        return e.argmax ? picked[row] : all.subarray(V * row, V * (row + 1));
      });
    },
    stepAhead(entries: readonly AheadEntry[]): Promise<number[]> {
      const p = picks();
      const before = p.aheadOps(entries);
      const { ops, m } = prepare(entries.map((e) => ({ slot: e.slot, tokens: [0] })), false);
      const after = p.pickOps(m, entries.map((e) => e.slot), entries.map((e) => e.pick), true);
      const submitted = backend.submit([...before, ...ops, ...after]);
      const read = readRows(p.picks, m);
      return Promise.all([submitted, read]).then(([, picked]) => Array.from(picked));
    },
    restoreSnapshot(slot: number, snapshot: number): Promise<void> {
      return backend.submit(picks().restoreOps(slot, snapshot));
    },
    async readSnapshot(
      slot: number,
      snapshot: number,
    ): Promise<{ state: Float32Array; logits: Float32Array }> {
      const s = picks().snapshot(snapshot);
      const [state, logits] = await Promise.all([
        backend.read(s.state, slot, 1),
        backend.read(s.kept, slot, 1),
      ]);
      return { state, logits };
    },
    readLogits(slot: number): Promise<Float32Array> {
      if (!picking) throw new Error("No argmax step has run: the logits were returned by step()");
      return backend.read(picking.kept, slot, 1);
    },
    writeSlot(slot: number, state: RecurrentState): void {
      if (state.data.length !== info.stateSize) {
        throw new RangeError(`A state of ${info.stateSize} floats was expected, got ${state.data.length}`);
      }
      backend.write(arena, state.data, slot);
    },
    readSlot: (slot: number) => backend.read(arena, slot, 1),
  };
}

/** A RangeError unless `id` is a token id below `vocab`. */
export function checkToken(id: number, vocab: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocab) {
    throw new RangeError(`Token id ${id} is outside the vocabulary (0..${vocab - 1})`);
  }
}
