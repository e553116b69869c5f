/**
 * Which form runs a prefill's long runs where an op has a chunked one (RetNet's retention,
 * Mamba-2's SSD scan: chunked.ts), learned by timing both on the adapter in use. The two forms
 * give the same results up to the order of f32 sums; only the time differs, and that depends on
 * the adapter (a GPU has idle lanes for the chunks to fill; a CPU rasterizer such as lavapipe
 * does not). So the first time a step has a run of at least {@linkcode CHUNK} tokens for an op
 * shape and run-length bucket (powers of two), the backend times each form alone on that step's
 * buffers ({@linkcode TRIALS} runs each after an untimed one, alternating, the queue drained
 * around each, the state part saved before and put back after every run), keeps the faster by
 * median for the rest of the process, and runs it. Steps without such a run take the recurrence.
 * `prefill: "chunked"` or `"recurrent"` skips the timing (tests force the chunked form); a software
 * adapter takes the recurrence unless told otherwise ({@linkcode defaultPrefillForm}).
 *
 * @module
 */

import type { Op, StateRef } from "../ops.ts";
import { CHUNK } from "./chunked.ts";
import { type AdapterInfo, softwareAdapter } from "./device.ts";
import { gpu } from "./plan.ts";

/** How the backend picks the form: by measurement (the default), or always one. */
export type PrefillForm = "measure" | "chunked" | "recurrent";

/** The prefill forms a choice can settle on. */
export type Form = Exclude<PrefillForm, "measure">;

/** Timed runs of each form, after one untimed each. */
export const TRIALS = 3;

const FORMS: readonly PrefillForm[] = ["measure", "chunked", "recurrent"];

/** Checks a form's name (from an option or the environment); a TypeError names the choices. */
export function parsePrefillForm(name: string): PrefillForm {
  if (!(FORMS as readonly string[]).includes(name)) {
    throw new TypeError(`Unknown prefill form "${name}": use ${FORMS.join(", ")}`);
  }
  return name as PrefillForm;
}

/**
 * The form a backend takes when not told one: timing on a GPU; the recurrence, untimed, on a
 * software adapter (it has no idle lanes for the chunks, and timing both forms there took up to a
 * minute at a 512-token run on lavapipe).
 */
export function defaultPrefillForm(info: AdapterInfo): PrefillForm {
  return softwareAdapter(info) ? "recurrent" : "measure";
}

/** The longest run of a row table's `first` column over its first `n` rows. */
export function longestRun(first: ArrayLike<number>, n: number): number {
  let longest = 0, start = 0;
  for (let r = 1; r <= n; r++) {
    if (r === n || first[r] === 1) [longest, start] = [Math.max(longest, r - start), r];
  }
  return longest;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

/** The forms chosen in one backend, by op shape and run-length bucket. */
export class PrefillChoice {
  readonly #chosen = new Map<string, Form>();
  constructor(readonly mode: PrefillForm = "measure") {}

  /** What a step whose longest run is `longest` tokens runs `op` with; undefined: time it first. */
  form(op: Op, longest: number): Form | undefined {
    if (longest < CHUNK) return "recurrent";
    if (this.mode !== "measure") return this.mode;
    return this.#chosen.get(this.#key(op, longest));
  }

  /** Keeps the faster form by median of `times` (milliseconds) for `op`'s shape and bucket. */
  record(op: Op, longest: number, times: Record<Form, number[]>): Form {
    const form = median(times.chunked) < median(times.recurrent) ? "chunked" : "recurrent";
    this.#chosen.set(this.#key(op, longest), form);
    return form;
  }

  #key(op: Op, longest: number): string {
    const bucket = 2 ** Math.floor(Math.log2(longest));
    if (op.op === "retention") return `retention ${op.heads}x${op.valueDim}x${op.keyDim} ${bucket}`;
    if (op.op === "ssdScan") {
      return `ssdScan ${op.heads}x${op.headDim}x${op.stateSize}/${op.groups} ${bucket}`;
    }
    throw new TypeError(`The ${op.op} op has no chunked form`);
  }
}

/**
 * Times `run(form)` (which encodes and submits one form of the op) for both forms, alternating,
 * with the op's state part in every arena row saved first and put back before each run and at
 * the end, so the step that follows starts from the state it would have had.
 */
export async function timeForms(
  device: GPUDevice,
  state: StateRef,
  run: (form: Form) => void,
): Promise<Record<Form, number[]>> {
  const arena = gpu(state.arena, "state arena");
  const rows = state.arena.rows, size = state.size * 4, cols = state.arena.cols * 4;
  const saved = device.createBuffer({
    label: "prefill timing state",
    size: rows * size,
    usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  const copy = (back: boolean) => {
    const encoder = device.createCommandEncoder();
    for (let r = 0; r < rows; r++) {
      const at = r * cols + state.offset * 4;
      if (back) encoder.copyBufferToBuffer(saved, r * size, arena, at, size);
      else encoder.copyBufferToBuffer(arena, at, saved, r * size, size);
    }
    device.queue.submit([encoder.finish()]);
    return device.queue.onSubmittedWorkDone();
  };
  const times: Record<Form, number[]> = { chunked: [], recurrent: [] };
  try {
    await copy(false);
    for (let i = 0; i <= TRIALS; i++) {
      for (const form of i % 2 ? ["recurrent", "chunked"] as const : ["chunked", "recurrent"] as const) {
        await copy(true);
        const t = performance.now();
        run(form);
        await device.queue.onSubmittedWorkDone();
        if (i > 0) times[form].push(performance.now() - t);
      }
    }
    await copy(true);
  } finally {
    saved.destroy();
  }
  return times;
}
