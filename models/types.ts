import type { Backend, MatrixDType } from "../kernels/mod.ts";

/** The model families this service knows. */
export type Family = "rwkv7" | "rwkv4" | "mamba" | "mamba2" | "retnet";

/** One named part of a family's recurrent state, for headers and docs. */
export interface StatePart {
  /** Part name, e.g. "wkv". */
  readonly name: string;
  /** Dimensions of the part, outermost first. */
  readonly shape: readonly number[];
}

/** What a loaded model is: enough to describe it and to check a saved state against it. */
export interface ModelInfo {
  /** The model family. */
  readonly family: Family;
  /** Logits per token (the embedding rows). */
  readonly vocabSize: number;
  /** The element type of the weights as loaded. */
  readonly weightDType: MatrixDType;
  /** The state's parts, in the order they sit in `RecurrentState.data`. */
  readonly stateParts: readonly StatePart[];
  /** Total f32 elements of a state. */
  readonly stateSize: number;
  /** Family-specific dimensions, e.g. `{ n_layer, n_embd, head_size }`. */
  readonly dims: Readonly<Record<string, number>>;
}

/**
 * A recurrent model's whole memory of a sequence: one flat f32 array whose
 * layout is `ModelInfo.stateParts`, concatenated in order.
 */
export interface RecurrentState {
  /** Every part, concatenated in `ModelInfo.stateParts` order. */
  readonly data: Float32Array;
}

/** What every model family implements. */
export interface RecurrentModel {
  /** What the model is. */
  readonly info: ModelInfo;
  /** The kernel backend holding its weights. */
  readonly backend: Backend;
  /** A fresh state: the model before any token. */
  newState(): RecurrentState;
  /**
   * Runs `tokens` through the model starting from `state` (updated in place) and
   * returns the logits after the last token (a new array of `vocabSize`). Long inputs
   * are processed in chunks of many tokens per matmul; one token uses the matvec path.
   */
  forward(tokens: ArrayLike<number>, state: RecurrentState): Float32Array;
  /** Most tokens one step runs (the prefill chunk). */
  readonly chunk: number;
  /** State slots in backend memory: sessions that can be resident, and decode in one step, at once. */
  readonly slots: number;
  /** Places a state in slot `slot` (0 ≤ slot < slots). */
  writeSlot(slot: number, state: RecurrentState): void;
  /** The state in slot `slot`, copied to the host (checkpoints, export, the end of a generation). */
  readSlot(slot: number): Promise<Float32Array>;
  /**
   * One step over resident states: each entry's tokens run in order on its slot; entries run side by
   * side (a prefill chunk and single decode tokens may share a step, at most `chunk` tokens in all).
   * Returns, per entry, the logits after its last token (undefined where `logits` is false).
   */
  step(entries: readonly StepEntry[]): Promise<(Float32Array | undefined)[]>;
  /**
   * As {@linkcode step}, but an entry with `argmax` gets its greedy token (the index of its largest
   * logit, the first on ties, found by the backend), or the token its `pick` rule picks, instead of
   * the logits, and only that id is read back: a GPU sends 4 bytes instead of the vocabulary's logits.
   * Its logits (as the model gave them, before any pick's adjustments) stay in backend memory
   * for {@linkcode readLogits} until the slot's next step.
   */
  stepPicks(entries: readonly StepEntry[]): Promise<(Float32Array | number | undefined)[]>;
  /** The logits an `argmax` entry of the slot's last step left in backend memory, copied to the host. */
  readLogits(slot: number): Promise<Float32Array>;
  /**
   * One decode step run ahead of the host: each entry's slot is fed the token its last `argmax` step
   * picked, read from backend memory (not yet known to the host), after the slot's state and kept
   * logits are copied into snapshot `entry.snapshot` (see {@linkcode restoreSnapshot}). The step is
   * queued before this returns, so another can follow at once; the promise resolves with each entry's
   * pick (greedy, or by its `pick`), as {@linkcode stepPicks} gives it. A penalized `pick`'s counts are
   * not the rule's but those kept on the backend: the counts of the slot's last {@linkcode stepPicks}
   * rule, plus each penalized pick made on the slot since (that step's and those run ahead).
   */
  stepAhead(entries: readonly AheadEntry[]): Promise<number[]>;
  /**
   * Puts a slot's state and kept logits back as snapshot `snapshot` held them (before the step that
   * took it); queued before this returns, so later steps and reads see the restored slot.
   */
  restoreSnapshot(slot: number, snapshot: number): Promise<void>;
  /** A slot's state and kept logits as snapshot `snapshot` holds them, copied to the host (reads queued at once). */
  readSnapshot(slot: number, snapshot: number): Promise<{ state: Float32Array; logits: Float32Array }>;
}

/**
 * A pick the backend makes as the host's sampler would (engine/sampler.ts): the logits adjusted by
 * `bias` and the penalties over `counts`, then the argmax at temperature 0, or a draw with uniform `u`
 * (the sampler's next PRNG value, known before the step) among the tokens top-k, top-p and min-p keep.
 */
export interface DevicePick {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  readonly repetitionPenalty: number;
  /** The draw's uniform in [0, 1) (unused at temperature 0). */
  readonly u: number;
  /** Added to these tokens' logits first (ids outside the vocabulary are ignored). */
  readonly bias: ReadonlyMap<number, number>;
  /** How often each token was generated: the penalties' counts (empty: no penalty). */
  readonly counts: ReadonlyMap<number, number>;
}

/** One slot's share of a {@linkcode RecurrentModel.stepAhead}. */
export interface AheadEntry {
  /** The state slot. */
  readonly slot: number;
  /** Which snapshot buffer (0, 1, …) keeps the slot's state and logits from before the step. */
  readonly snapshot: number;
  /** The step's pick by this rule instead of the largest logit (its `counts` unread: see stepAhead). */
  readonly pick?: DevicePick;
}

/** One slot's share of a {@linkcode RecurrentModel.step}. */
export interface StepEntry {
  /** The state slot the tokens run on. */
  readonly slot: number;
  /** Token ids, in order. */
  readonly tokens: readonly number[];
  /** Whether to return the logits after the last token (default true). */
  readonly logits?: boolean;
  /** {@linkcode RecurrentModel.stepPicks} only: return the greedy token instead of the logits. */
  readonly argmax?: boolean;
  /** With `argmax`: the token picked by these instead of the largest logit (the sampler's rule, on the backend). */
  readonly pick?: DevicePick;
}
