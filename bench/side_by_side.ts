/**
 * The bench's main table: for one checkpoint in one weight format, decode and prefill tokens/s
 * on 1 and N threads, each beside its roofline measured in the same run (decode: the bandwidth
 * probe ÷ bytes of weights read per token; prefill: the FMA probe ÷ 2 FLOPs per weight per
 * token, the head excluded as prefill computes it for the last token only), and batched decode of 16 sessions ÷ one session on 1 thread.
 *
 * @module
 */

import { createBackend, type QuantFormat, quantizedBytes } from "../kernels/mod.ts";
import { quantizesTensor, quantizingBackend } from "../models/quantize.ts";
import {
  backendSize,
  createRecurrentModel,
  DEFAULT_SLOTS,
  FAMILIES,
  type RecurrentModel,
  type TensorMap,
} from "../models/mod.ts";
import { benchBatch } from "./batch.ts";

/** Tokens per prefill chunk in every measurement. */
export const CHUNK = 64;

/** What one run measured on this machine: the rooflines, per thread count. */
export interface Rooflines {
  /** Bytes/s the bandwidth probe read, by thread count. */
  readonly bandwidth: ReadonlyMap<number, number>;
  /** FLOP/s the FMA probe issued, by thread count. */
  readonly flops: ReadonlyMap<number, number>;
}

/** One checkpoint, one format, one thread count. */
export interface Measurement {
  readonly model: string;
  /** The checkpoint's element type, or int8/q4 when quantized as it loaded. */
  readonly dtype: string;
  readonly threads: number;
  /** MB of weights one decode step reads. */
  readonly weightMB: number;
  readonly decodeTps: number;
  readonly decodeRoofline: number;
  readonly prefillTps: number;
  readonly prefillRoofline: number;
  /** Total tokens/s of 16 sessions ÷ one session's (measured on 1 thread only). */
  readonly batch16?: number;
  readonly stateBytes: number;
}

/**
 * Builds a model from tensors on the WASM backend (`adaptiveSplit`: see kernels/wasm/split_choice.ts;
 * `groupCalls`: kernels/wasm/call_groups.ts).
 */
export async function buildModel(
  tensors: TensorMap,
  threads: number,
  config?: Record<string, unknown>,
  weights?: QuantFormat,
  adaptiveSplit?: boolean,
  groupCalls?: boolean,
): Promise<RecurrentModel> {
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, config))!;
  const size = backendSize(spec, tensors, { chunk: CHUNK, slots: DEFAULT_SLOTS, config, weights });
  const backend = await createBackend({ ...size, threads, adaptiveSplit, groupCalls }, "wasm");
  const placing = weights ? quantizingBackend(backend, weights) : backend;
  return createRecurrentModel({ ...spec.model(tensors, placing, config), backend, chunk: CHUNK });
}

/**
 * Weights one decode step reads: every tensor but the embedding (one row of it), plus a tied
 * head; q8/q4 matrices at their quantized size. Returns bytes, elements (each one multiply-add per
 * token) and the head's elements (prefill computes the head for the last token only).
 */
export function decodeWeights(
  tensors: TensorMap,
  weights?: QuantFormat,
  config?: Record<string, unknown>,
): { bytes: number; elements: number; head: number } {
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, config))!;
  const tied = !tensors.has(spec.head);
  let bytes = 0, elements = 0, head = 0;
  for (const [name, t] of tensors) {
    if (name === spec.embedding && !tied) continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const quantized = weights && quantizesTensor(name, t);
    bytes += quantized ? quantizedBytes(weights, t.shape[0], t.shape[1]) : t.bytes.byteLength;
    elements += n;
    if (name === spec.head || name === spec.embedding) head += n;
  }
  return { bytes, elements, head };
}

/**
 * Decode (median of `decodeTokens` single-token steps, more for a fast model: ~200 ms at least) and
 * prefill (`prefillTokens` in chunks; the median of repeats filling ~200 ms)
 * tokens/s, as the engine runs them: through `step` on a state resident in its slot (the
 * synchronous `forward` also copies the state in and out on every call).
 */
export async function measureSpeed(
  model: RecurrentModel,
  decodeTokens: number,
  prefillTokens: number,
): Promise<{ decodeTps: number; prefillTps: number }> {
  const vocab = model.info.vocabSize;
  const prompt = Array.from({ length: prefillTokens }, (_, i) => (i * 7919 + 13) % vocab);
  const prefill = async () => {
    for (let at = 0; at < prompt.length; at += CHUNK) {
      const tokens = prompt.slice(at, at + CHUNK);
      await model.step([{ slot: 0, tokens, logits: at + CHUNK >= prompt.length }]);
    }
  };
  model.writeSlot(0, model.newState());
  await model.step([{ slot: 0, tokens: prompt.slice(0, CHUNK) }]); // warm up both paths
  const t1 = performance.now();
  await model.step([{ slot: 0, tokens: [1] }]);
  // A small model's step takes well under a millisecond: measure at least ~200 ms of each, so a
  // time slice lost to another process on a shared machine does not decide the figure.
  const decodeSteps = Math.max(decodeTokens, Math.min(2000, Math.ceil(200 / (performance.now() - t1))));
  const prefills: number[] = [];
  let spent = 0;
  while (prefills.length === 0 || (spent < 200 && prefills.length < 25)) {
    model.writeSlot(0, model.newState());
    const t0 = performance.now();
    await prefill();
    prefills.push(performance.now() - t0);
    spent += prefills.at(-1)!;
  }
  prefills.sort((a, b) => a - b);
  const prefillMs = prefills[Math.floor(prefills.length / 2)];
  const times: number[] = [];
  let tok = 1;
  for (let i = 0; i < decodeSteps; i++) {
    const t = performance.now();
    const [logits] = await model.step([{ slot: 0, tokens: [tok] }]);
    times.push(performance.now() - t);
    tok = (tok * 31 + Math.round(Math.abs(logits![0]) * 1000)) % vocab;
  }
  times.sort((a, b) => a - b);
  return {
    decodeTps: 1000 / times[Math.floor(times.length / 2)],
    prefillTps: prefillTokens / (prefillMs / 1000),
  };
}

/** Measures one checkpoint on `threads` threads (and its batching gain when `threads` is 1). */
export async function measure(
  name: string,
  tensors: TensorMap,
  threads: number,
  roof: Rooflines,
  counts: { decode: number; prefill: number; batchSteps: number },
  config?: Record<string, unknown>,
  weights?: QuantFormat,
): Promise<Measurement> {
  const model = await buildModel(tensors, threads, config, weights);
  try {
    const { decodeTps, prefillTps } = await measureSpeed(model, counts.decode, counts.prefill);
    const batch16 = threads === 1
      ? (await benchBatch(model, [16], counts.batchSteps)).find((r) => r.sessions === 16)!.gain
      : undefined;
    const w = decodeWeights(tensors, weights, config);
    return {
      model: name,
      dtype: weights === "q8" ? "int8" : weights ?? model.info.weightDType,
      threads,
      weightMB: w.bytes / 1e6,
      decodeTps,
      decodeRoofline: roof.bandwidth.get(threads)! / w.bytes,
      prefillTps,
      prefillRoofline: roof.flops.get(threads)! / (2 * (w.elements - w.head)),
      batch16,
      stateBytes: model.info.stateSize * 4,
    };
  } finally {
    model.backend.close();
  }
}

/**
 * The side-by-side table: one line per checkpoint and format, 1 thread beside N for decode and
 * prefill (tokens/s and the fraction of the roofline), N threads' prefill ÷ 1's, and 16
 * sessions' batched decode ÷ one session's.
 */
export function sideBySide(rows: readonly Measurement[], threads: number): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const cell = (tps: number | undefined, roofline: number | undefined) =>
    tps === undefined || roofline === undefined ? "–" : `${tps.toFixed(1)} (${pct(tps / roofline)})`;
  const n = threads > 1 ? [threads] : [];
  const lines = [
    `| model | weights | MB/token | decode 1T${n.map((t) => ` · ${t}T`).join("")} tok/s (of roofline) | ` +
    `prefill 1T${n.map((t) => ` · ${t}T`).join("")} tok/s (of FMA peak) |${
      n.length ? ` prefill ${threads}T ÷ 1T |` : ""
    }` +
    ` 16 sessions ÷ one | state MB |`,
    `| --- | --- | ---: | ---: | ---: |${n.length ? " ---: |" : ""} ---: | ---: |`,
  ];
  const keys = [...new Set(rows.map((r) => `${r.model}\u0000${r.dtype}`))];
  for (const key of keys) {
    const [model, dtype] = key.split("\u0000");
    const one = rows.find((r) => r.model === model && r.dtype === dtype && r.threads === 1);
    const many = rows.find((r) => r.model === model && r.dtype === dtype && r.threads === threads);
    const any = one ?? many!;
    const decode = [one, ...(n.length ? [many] : [])].map((r) => cell(r?.decodeTps, r?.decodeRoofline));
    const prefill = [one, ...(n.length ? [many] : [])].map((r) => cell(r?.prefillTps, r?.prefillRoofline));
    const scaling = n.length ? ` ${one && many ? (many.prefillTps / one.prefillTps).toFixed(2) : "–"} |` : "";
    lines.push(
      `| ${model} | ${dtype} | ${any.weightMB.toFixed(1)} | ${decode.join(" · ")} | ${
        prefill.join(" · ")
      } |` +
        `${scaling} ${one?.batch16 !== undefined ? `${one.batch16.toFixed(2)}×` : "–"} | ${
          (any.stateBytes / 1e6).toFixed(2)
        } |`,
    );
  }
  return lines;
}
