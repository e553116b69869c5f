/**
 * `deno task bench --backend webgpu`: decode tokens/s of the RWKV-7 0.1B and 1.5B shapes and Mamba
 * 130M (random weights at real shapes) in f16 and f32 on WebGPU, at 1, 16 and 64 sessions decoding in
 * one batched step, prefill tokens/s over 512 tokens, and the GPU's copy bandwidth measured in the
 * same run, with the fraction of it decode's weight reads reach at each session count; and one session's greedy decode with
 * the picks on the GPU, each step waiting for its pick and with {@linkcode GREEDY_AHEAD} steps in
 * flight (the model's stepPicks and stepAhead, as the scheduler runs them, without the engine's
 * per-token work), and the same sampled with top-p on the GPU (the pick op), without and with penalties
 * (their counts kept on the GPU). `--quick` keeps the layers' width
 * but takes one layer and a 4k vocabulary, and a few tokens (a smoke run a software rasterizer such
 * as lavapipe finishes in minutes).
 *
 * @module
 */

import {
  type CopyBandwidth,
  createBackend,
  measureWebGpuCopyBandwidth,
  parsePrefillForm,
  softwareAdapter,
  type WeightDType,
} from "../kernels/mod.ts";
import {
  DEFAULT_SAMPLING,
  DEFAULT_STEPS_AHEAD,
  devicePick,
  newSamplerState,
  recordPick,
  type SamplingParams,
} from "../engine/mod.ts";
import {
  createRecurrentModel,
  type DevicePick,
  FAMILIES,
  type RecurrentModel,
  type TensorMap,
} from "../models/mod.ts";
import { mulberry32Step } from "../engine/prng.ts";
import { benchBatch } from "./batch.ts";
import { mamba2_130m, mamba_130m, retnet_100m, withDtype } from "./random_families.ts";
import { randomRwkv7, RWKV7_0_1B, RWKV7_1_5B, type Rwkv7Shape } from "./random_rwkv7.ts";
import { CHUNK, decodeWeights, measureSpeed } from "./side_by_side.ts";

/** Sessions decoding in one step, per measurement. */
export const GPU_SESSIONS = [1, 16, 64];

/** Steps in flight in the greedy measurement (the scheduler's default). */
export const GREEDY_AHEAD = DEFAULT_STEPS_AHEAD;

/** The sampling of the sampled column: temperature 1, top-p 0.9 (the pick op's searches by mass). */
export const SAMPLED = { ...DEFAULT_SAMPLING, temperature: 1, topP: 0.9 };

/** The sampling of the penalized column: {@linkcode SAMPLED} with presence, frequency and repetition penalties. */
export const PENALIZED = { ...SAMPLED, presencePenalty: 0.5, frequencyPenalty: 0.5, repetitionPenalty: 1.1 };

/** One checkpoint at one weight type on WebGPU. */
export interface GpuMeasurement {
  readonly model: string;
  readonly dtype: WeightDType;
  /** MB of weights one decode step reads. */
  readonly weightMB: number;
  /** Total decode tokens/s by sessions per step (absent where it did not fit: see `error`). */
  readonly decodeTps: Readonly<Record<number, number>>;
  readonly prefillTps?: number;
  /** One session's greedy decode tokens/s (picks on the GPU): each step waiting for its pick, and in flight. */
  readonly greedyTps?: { readonly oneAtATime: number; readonly inFlight: number };
  /** The same, sampled on the GPU ({@linkcode SAMPLED}: the pick op instead of the argmax). */
  readonly sampledTps?: { readonly oneAtATime: number; readonly inFlight: number };
  /** The same, sampled with penalties ({@linkcode PENALIZED}: their counts kept on the GPU in flight). */
  readonly penalizedTps?: { readonly oneAtATime: number; readonly inFlight: number };
  /** Why a measurement is missing (e.g. a buffer over this adapter's binding limit). */
  readonly error?: string;
}

/** A checkpoint to measure: its name, tensors by weight type, config. */
interface Subject {
  readonly name: string;
  readonly make: (dtype: WeightDType) => TensorMap;
  readonly config?: Record<string, unknown>;
}

/** `--quick`: one layer of each shape (real widths) and a 4k vocabulary. */
const QUICK = { layers: 1, vocab: 4096 };

/**
 * The models, at real shapes or (quick) {@linkcode QUICK}'s slice of them: RWKV-7 at 0.1B and 1.5B
 * and Mamba, then Mamba-2 and RetNet, whose prefill has a chunked form
 * (kernels/webgpu/prefill_choice.ts).
 */
export function gpuSubjects(quick: boolean): Subject[] {
  const slice = (shape: Rwkv7Shape) => quick ? { ...shape, nLayer: QUICK.layers, vocab: QUICK.vocab } : shape;
  const shape = quick ? ` (${QUICK.layers} layer, vocab ${QUICK.vocab})` : "";
  const others = [mamba_130m, mamba2_130m, retnet_100m].map((make) => quick ? make(QUICK) : make());
  return [
    { name: `rwkv7 0.1B shape${shape}`, make: (dtype) => randomRwkv7(slice(RWKV7_0_1B), dtype) },
    { name: `rwkv7 1.5B shape${shape}`, make: (dtype) => randomRwkv7(slice(RWKV7_1_5B), dtype) },
    ...others.map((c): Subject => ({
      name: `${c.name}${shape}`,
      make: (dtype) => withDtype(c.tensors, dtype),
      config: c.config,
    })),
  ];
}

/** WEBGPU_PREFILL (measure, chunked or recurrent), as the server takes it: how Mamba-2's and RetNet's prefill runs. */
const PREFILL = Deno.env.get("WEBGPU_PREFILL");

/** The copy bandwidth, and a sentence saying what it was measured on (a software adapter named as one). */
export async function gpuCopyBandwidth(quick: boolean): Promise<{ copy: CopyBandwidth; line: string }> {
  const copy = await measureWebGpuCopyBandwidth({ bytes: (quick ? 64 : 256) << 20 });
  const adapter = await navigator.gpu.requestAdapter();
  const software = adapter ? softwareAdapter(adapter.info) : undefined;
  const line = `WebGPU on ${copy.adapter}${software ? ` (${software}: CPU figures, not a GPU's)` : ""}: ` +
    `copy bandwidth ${(copy.bytesPerSecond / 1e9).toFixed(1)} GB/s (read + written, ${
      copy.bytes >> 20
    } MiB copies).`;
  return { copy, line };
}

async function gpuModel(tensors: TensorMap, slots: number, config?: Record<string, unknown>) {
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, config))!;
  const prefill = PREFILL ? parsePrefillForm(PREFILL) : undefined;
  const backend = await createBackend({ capacity: 0, maxCols: 0, prefill }, "webgpu");
  try {
    return createRecurrentModel({ ...spec.model(tensors, backend, config), backend, chunk: CHUNK, slots });
  } catch (err) {
    backend.close();
    throw err;
  }
}

/** Measures one subject at one weight type: decode at each session count, then prefill. */
export async function measureGpu(
  subject: Subject,
  dtype: WeightDType,
  counts: { decode: number; prefill: number; steps: number },
): Promise<GpuMeasurement> {
  const tensors = subject.make(dtype);
  const weightMB = decodeWeights(tensors, undefined, subject.config).bytes / 1e6;
  const decodeTps: Record<number, number> = {};
  const skipped: string[] = [];
  let model: RecurrentModel | undefined;
  try {
    // The most sessions whose state arena fits (a buffer over the adapter's binding limit does not).
    for (const slots of [...GPU_SESSIONS].sort((a, b) => b - a)) {
      try {
        model = await gpuModel(tensors, slots, subject.config);
        break;
      } catch (err) {
        if (!(err instanceof RangeError) || slots === 1) throw err;
        skipped.push(`${slots} sessions: ${err.message}`);
      }
    }
    const { decodeTps: one, prefillTps } = await measureSpeed(model!, counts.decode, counts.prefill);
    decodeTps[1] = one;
    const greedyTps = await measureGreedy(model!, 2 * counts.decode);
    const sampledTps = await measureGreedy(model!, 2 * counts.decode, { sampling: SAMPLED });
    const penalizedTps = await measureGreedy(model!, 2 * counts.decode, { sampling: PENALIZED });
    const batched = GPU_SESSIONS.filter((s) => s > 1 && s <= model!.slots);
    for (const row of await benchBatch(model!, batched, counts.steps)) decodeTps[row.sessions] = row.totalTps;
    const error = skipped.length ? skipped.join("; ") : undefined;
    return {
      model: subject.name,
      dtype,
      weightMB,
      decodeTps,
      prefillTps,
      greedyTps,
      sampledTps,
      penalizedTps,
      error,
    };
  } catch (err) {
    return { model: subject.name, dtype, weightMB, decodeTps, error: (err as Error).message };
  } finally {
    model?.backend.close();
  }
}

/**
 * One session's greedy decode tokens/s from a fresh state: `tokens` steps each waiting for its pick
 * (stepPicks), then `tokens` with {@linkcode GREEDY_AHEAD} steps queued ahead, each fed the previous
 * pick on the GPU (stepAhead), as the scheduler keeps them. With `sampling`, each pick is by that
 * rule, made on the GPU (the PRNG's next uniform per step; with penalties, the counts of the picks
 * before it: sent up with each step that waits, kept on the GPU by the steps in flight).
 */
export async function measureGreedy(
  model: RecurrentModel,
  tokens: number,
  options: { sampling?: SamplingParams } = {},
): Promise<{ oneAtATime: number; inFlight: number }> {
  // Sampled: each step's pick by the rule with the PRNG's next uniform, as a generation hands them in.
  const { sampling } = options;
  const state = newSamplerState(1);
  // A step run ahead: the uniform taken (its pick counted on the GPU).
  const pick = (): DevicePick | undefined => {
    if (!sampling) return undefined;
    const rule = devicePick(sampling, state);
    state.rng = mulberry32Step(state.rng).state;
    return rule;
  };
  // A step that waits: the uniform and the pick taken, as a generation's sampler takes them.
  const step = async (token: number) => {
    const rule = sampling && devicePick(sampling, state);
    const id = (await model.stepPicks([{ slot: 0, tokens: [token], argmax: true, pick: rule }]))[0] as number;
    if (sampling) recordPick(state, sampling, id);
    return id;
  };
  model.writeSlot(0, model.newState());
  let token = await step(1);
  await model.stepAhead([{ slot: 0, snapshot: 0, pick: pick() }]); // warm up both paths
  token = await step(token);
  const t0 = performance.now();
  for (let i = 0; i < tokens; i++) token = await step(token);
  const t1 = performance.now();
  const pending: Promise<number[]>[] = [];
  for (let queued = 0, taken = 0; taken < tokens; taken++) {
    while (pending.length < GREEDY_AHEAD && queued < tokens) {
      pending.push(model.stepAhead([{ slot: 0, snapshot: queued++ % GREEDY_AHEAD, pick: pick() }]));
    }
    await pending.shift();
  }
  const t2 = performance.now();
  return { oneAtATime: tokens / ((t1 - t0) / 1000), inFlight: tokens / ((t2 - t1) / 1000) };
}

/**
 * The table: tokens/s per session count, and per session count the weight reads of its steps as a
 * fraction of the copy bandwidth (a step reads the weights once for all its sessions).
 */
export function gpuTable(rows: readonly GpuMeasurement[], copy: CopyBandwidth): string[] {
  const lines = [
    `| model | weights | MB/token | decode tok/s: ${GPU_SESSIONS.join(" · ")} sessions | ` +
    `weight reads ÷ copy bandwidth: ${GPU_SESSIONS.join(" · ")} sessions | prefill tok/s | ` +
    `1 session greedy tok/s: each step waits · ${GREEDY_AHEAD} in flight | ` +
    `1 session sampled (top-p 0.9) tok/s: each step waits · ${GREEDY_AHEAD} in flight | ` +
    `1 session sampled with penalties tok/s: each step waits · ${GREEDY_AHEAD} in flight |`,
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const decode = GPU_SESSIONS.map((s) => r.decodeTps[s]?.toFixed(1) ?? "–").join(" · ");
    const fraction = GPU_SESSIONS.map((s) => {
      const tps = r.decodeTps[s];
      return tps ? `${((100 * (tps / s) * r.weightMB * 1e6) / copy.bytesPerSecond).toFixed(1)} %` : "–";
    }).join(" · ");
    const prefill = r.prefillTps?.toFixed(1) ?? "–";
    const pair = (t?: { oneAtATime: number; inFlight: number }) =>
      t ? `${t.oneAtATime.toFixed(1)} · ${t.inFlight.toFixed(1)}` : "–";
    const greedy = pair(r.greedyTps), sampled = pair(r.sampledTps), penalized = pair(r.penalizedTps);
    lines.push(
      `| ${r.model} | ${r.dtype} | ${
        r.weightMB.toFixed(1)
      } | ${decode} | ${fraction} | ${prefill} | ${greedy} | ${sampled} | ${penalized} |`,
    );
    if (r.error) lines.push(`|  | ${r.dtype} | not measured: ${r.error} |  |  |  |  |  |  |`);
  }
  return lines;
}
