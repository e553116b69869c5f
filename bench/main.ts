/**
 * `deno task bench`: decode and prefill tokens/s on the WASM-SIMD backend, for
 * the embedded default model, random RWKV-7 weights at the official 0.1B shape
 * (f32, f16, bf16), and a row per family at a real shape (RWKV-4 169M, Mamba
 * 130M, Mamba-2 130M, RetNet ~0.1B; f32), beside the memory bandwidth measured in
 * the same run and the fraction of the decode roofline reached (roofline
 * tokens/s = bandwidth ÷ weight bytes read per token); our matmul against
 * onnxruntime-web's on the same shapes; then session store and resume timings.
 *
 * Then batched decode: total tokens/s of 4 and 16 sessions against one, and a new request's
 * time to first token beside 15 decoding sessions.
 *
 *   deno task bench [--quick] [--section models,families,batch,peer,sessions] [--json FILE]
 *
 * @module
 */

import { exitOnUserMistakes, parseCommand } from "../cli/command.ts";
import { DEFAULT_MODEL_DIR } from "../cli/defaults.ts";
import {
  createBackend,
  measureWasmBandwidth,
  wasmThreadsSupported,
  type WeightDType,
} from "../kernels/mod.ts";
import {
  backendSize,
  createRecurrentModel,
  DEFAULT_SLOTS,
  FAMILIES,
  parseSafetensors,
  type RecurrentModel,
  type TensorMap,
  writeSafetensors,
} from "../models/mod.ts";
import { loadModel } from "../models/mod.ts";
import { mamba2_130m, mamba_130m, retnet_100m, rwkv4_169m } from "./random_families.ts";
import { randomRwkv7, RWKV7_0_1B } from "./random_rwkv7.ts";
import { benchBatch, firstTokenMs } from "./batch.ts";
import { benchPeer } from "./peer.ts";
import { benchCluster } from "./cluster.ts";
import { benchResume, benchStore } from "./sessions.ts";

const USAGE = `Usage: deno task bench [--quick] [--section LIST] [--only DTYPE] [--json FILE]
Decode/prefill tokens/s beside the measured memory bandwidth, our matmul against onnxruntime-web,
and session store and resume timings. Prints Markdown tables.
  --quick          fewer tokens per measurement (a smoke run)
  --section LIST   comma-separated: models,families,peer,sessions (default: all)
  --only DTYPE     in "models", only f32, f16 or bf16
  --json FILE      also write the rows as JSON
  -h, --help       this text`;

exitOnUserMistakes();
const { values } = parseCommand(USAGE, {
  quick: { type: "boolean" },
  json: { type: "string" },
  only: { type: "string" },
  section: { type: "string" },
});
const DECODE_TOKENS = values.quick ? 8 : 32;
const PREFILL_TOKENS = values.quick ? 128 : 512;
const CHUNK = 64;

interface Row {
  model: string;
  threads: number;
  dtype: WeightDType;
  weightMB: number;
  decodeTps: number;
  prefillTps: number;
  rooflineTps: number;
  rooflineFraction: number;
  stateBytes: number;
}

async function buildModel(
  tensors: TensorMap,
  threads: number,
  config?: Record<string, unknown>,
): Promise<RecurrentModel> {
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, config))!;
  const size = backendSize(spec, tensors, { chunk: CHUNK, slots: DEFAULT_SLOTS, config });
  const backend = await createBackend({ ...size, threads }, "wasm");
  return createRecurrentModel({ ...spec.model(tensors, backend, config), backend, chunk: CHUNK });
}

const EMBEDDINGS = new Set([
  "emb.weight",
  "rwkv.embeddings.weight",
  "backbone.embeddings.weight",
  "embed_tokens.weight",
]);
const HEADS = ["head.weight", "lm_head.weight", "output_projection.weight"];

/** Bytes of weights one decode step reads: every tensor but the embedding (one row of it), plus a tied head. */
function decodeBytes(tensors: TensorMap): number {
  let total = 0;
  for (const [name, t] of tensors) if (!EMBEDDINGS.has(name)) total += t.bytes.byteLength;
  if (!HEADS.some((h) => tensors.has(h))) {
    for (const [name, t] of tensors) if (EMBEDDINGS.has(name)) total += t.bytes.byteLength;
  }
  return total;
}

function measure(model: RecurrentModel): { decodeTps: number; prefillTps: number } {
  const vocab = model.info.vocabSize;
  const prompt = Array.from({ length: PREFILL_TOKENS }, (_, i) => (i * 7919 + 13) % vocab);
  const state = model.newState();
  model.forward(prompt.slice(0, CHUNK), model.newState()); // warm up both paths
  model.forward([1], model.newState());
  const t0 = performance.now();
  model.forward(prompt, state);
  const prefillMs = performance.now() - t0;
  const times: number[] = [];
  let tok = 1;
  for (let i = 0; i < DECODE_TOKENS; i++) {
    const t = performance.now();
    const logits = model.forward([tok], state);
    times.push(performance.now() - t);
    tok = (tok * 31 + Math.round(Math.abs(logits[0]) * 1000)) % vocab;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return { decodeTps: 1000 / median, prefillTps: PREFILL_TOKENS / (prefillMs / 1000) };
}

async function row(
  name: string,
  tensors: TensorMap,
  bandwidth: number,
  threads = 1,
  config?: Record<string, unknown>,
): Promise<Row> {
  const model = await buildModel(tensors, threads, config);
  const { decodeTps, prefillTps } = measure(model);
  model.backend.close();
  const bytes = decodeBytes(tensors);
  const rooflineTps = bandwidth / bytes;
  return {
    model: name,
    threads,
    dtype: model.info.weightDType,
    weightMB: bytes / 1e6,
    decodeTps,
    prefillTps,
    rooflineTps,
    rooflineFraction: decodeTps / rooflineTps,
    stateBytes: model.info.stateSize * 4,
  };
}

const sections = new Set((values.section ?? "models,families,batch,peer,sessions").split(","));
const cores = navigator.hardwareConcurrency ?? 1;
const bandwidth = await measureWasmBandwidth();
const bandwidthMt = cores > 1 && wasmThreadsSupported()
  ? await measureWasmBandwidth(undefined, 5, cores)
  : bandwidth;
console.log(
  `WASM memory read bandwidth (8 accumulators): ${(bandwidth / 1e9).toFixed(1)} GB/s on 1 thread, ` +
    `${(bandwidthMt / 1e9).toFixed(1)} GB/s on ${cores}`,
);
console.log(
  `decode: median of ${DECODE_TOKENS} single-token steps; prefill: ${PREFILL_TOKENS} tokens in chunks of ${CHUNK}`,
);

const rows: Row[] = [];
if (sections.has("models")) {
  const defaultTensors = parseSafetensors(await Deno.readFile(`${DEFAULT_MODEL_DIR}/model.safetensors`));
  rows.push(await row("default (rwkv7-kjv-4m)", defaultTensors, bandwidth));
  const threadCounts = [1, ...(cores > 1 && wasmThreadsSupported() ? [cores] : [])];
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    if (values.only && values.only !== dtype) continue;
    const tensors = randomRwkv7(RWKV7_0_1B, dtype);
    for (const threads of threadCounts) {
      rows.push(
        await row("rwkv7 0.1B shape (random)", tensors, threads > 1 ? bandwidthMt : bandwidth, threads),
      );
    }
  }
}
if (sections.has("families")) {
  for (const make of [rwkv4_169m, mamba_130m, mamba2_130m, retnet_100m]) {
    const { name, tensors, config } = make();
    for (const threads of [1, ...(cores > 1 && wasmThreadsSupported() ? [cores] : [])]) {
      rows.push(
        await row(`${name} (random)`, tensors, threads > 1 ? bandwidthMt : bandwidth, threads, config),
      );
    }
  }
}

if (rows.length) {
  console.log(
    "\n| model | weights | threads | MB read/token | decode tok/s | roofline tok/s (same threads) | of roofline | prefill tok/s | state |",
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
}
for (const r of rows) {
  console.log(
    `| ${r.model} | ${r.dtype} | ${r.threads} | ${r.weightMB.toFixed(1)} | ${r.decodeTps.toFixed(1)} | ${
      r.rooflineTps.toFixed(1)
    } | ${(100 * r.rooflineFraction).toFixed(0)}% | ${r.prefillTps.toFixed(1)} | ${
      (r.stateBytes / 1e6).toFixed(2)
    } MB |`,
  );
}
if (rows.length) {
  console.log(
    "\nFor scale (from the design brief, llama.cpp AVX-512 on this machine class, 1 thread): RWKV-7 0.1B decode" +
      " f32 56, f16 141 tok/s; prefill f32 435, f16 802 tok/s.",
  );
}
if (sections.has("batch")) {
  console.log("\nBatched decode (WASM, 1 thread; one step = one token of every session), median step:\n");
  console.log(
    "| model | sessions | total tok/s | × one session | new request's first token, 15 busy ÷ idle |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: |");
  const defaultTensors = parseSafetensors(await Deno.readFile(`${DEFAULT_MODEL_DIR}/model.safetensors`));
  const models: [string, TensorMap][] = [
    ["default (rwkv7-kjv-4m)", defaultTensors],
    ["rwkv7 0.1B shape bf16 (random)", randomRwkv7(RWKV7_0_1B, "bf16")],
  ];
  for (const [name, tensors] of models) {
    const model = await buildModel(tensors, 1);
    const rowsOut = await benchBatch(model, [1, 4, 16], values.quick ? 4 : 16);
    const idle = await firstTokenMs(model, 32, 0);
    const busy = await firstTokenMs(model, 32, 15);
    for (const r of rowsOut) {
      const ttft = r.sessions === 16
        ? `${(busy / idle).toFixed(2)} (${busy.toFixed(0)} ÷ ${idle.toFixed(0)} ms)`
        : "";
      console.log(`| ${name} | ${r.sessions} | ${r.totalTps.toFixed(1)} | ${r.gain.toFixed(2)} | ${ttft} |`);
    }
    model.backend.close();
  }
}
if (sections.has("peer")) {
  console.log("\nMatmul against onnxruntime-web (its WASM backend, 1 thread; ours 1 thread), best of 7:\n");
  console.log((await benchPeer([[768, 768], [3072, 768], [768, 3072], [65536, 768]])).join("\n"));
}
if (sections.has("sessions")) {
  const small = await loadModel(DEFAULT_MODEL_DIR);
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(
    `${dir}/model.safetensors`,
    writeSafetensors(randomRwkv7(RWKV7_0_1B, "bf16").values()),
  );
  await Deno.copyFile(`${DEFAULT_MODEL_DIR}/vocab.txt`, `${dir}/vocab.txt`);
  const big = await loadModel(dir, { id: "rwkv7-0.1B-shape", threads: 1 });
  console.log("\nSession state in the store (median of 7):\n");
  console.log((await benchStore([small, big])).join("\n"));
  const histories = values.quick ? [10, 1000] : [10, 1000, 10000];
  console.log(`\nTime to first token after resuming a session (${small.id}), median of 5:\n`);
  console.log((await benchResume(small, histories)).join("\n"));
  const trials = values.quick ? 1 : 3;
  console.log(`\nAcross instances (two server processes on one store, LEASE_MS 1000, ${trials} kill(s)):\n`);
  console.log((await benchCluster(trials)).join("\n"));
  big.model.backend.close();
}
if (values.json) {
  await Deno.writeTextFile(values.json, JSON.stringify({ bandwidth, rows }, null, 1));
}
