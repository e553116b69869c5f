/**
 * `deno task bench`: decode and prefill tokens/s on the WASM-SIMD backend for the embedded
 * default model, random RWKV-7 weights at the official 0.1B shape and a checkpoint per family at
 * a real shape (RWKV-4 169M, Mamba 130M, Mamba-2 130M, RetNet ~0.1B), each in f32, f16 and bf16,
 * on 1 and on every thread, side by side with the rooflines measured in the same run (memory
 * bandwidth for decode, the WASM FMA peak for prefill) and with batched decode (16 sessions ÷
 * one); then batched decode in detail (time to first token beside 15 busy sessions), our matmul
 * against onnxruntime-web's, and session store and resume timings. Progress goes to stderr,
 * tables to stdout.
 *
 *   deno task bench [--quick] [--section models,families,batch,peer,sessions] [--only DTYPE] [--json FILE]
 *
 * @module
 */

import { exitOnUserMistakes, parseCommand } from "../cli/command.ts";
import { DEFAULT_MODEL_DIR } from "../cli/defaults.ts";
import { Progress } from "../cli/progress.ts";
import {
  type CopyBandwidth,
  measureWasmBandwidth,
  measureWasmFmaPeak,
  type QuantFormat,
  wasmThreadsSupported,
  type WeightDType,
} from "../kernels/mod.ts";
import { loadModel, parseSafetensors, type TensorMap, writeSafetensors } from "../models/mod.ts";
import { mamba2_130m, mamba_130m, retnet_100m, rwkv4_169m, withDtype } from "./random_families.ts";
import { randomRwkv7, RWKV7_0_1B } from "./random_rwkv7.ts";
import { benchBatch, firstTokenMs } from "./batch.ts";
import { benchPeer } from "./peer.ts";
import { benchCluster } from "./cluster.ts";
import { benchResume, benchStore } from "./sessions.ts";
import { gpuCopyBandwidth, type GpuMeasurement, gpuSubjects, gpuTable, measureGpu } from "./webgpu.ts";
import { buildModel, CHUNK, measure, type Measurement, type Rooflines, sideBySide } from "./side_by_side.ts";

const USAGE =
  `Usage: deno task bench [--backend wasm|webgpu] [--quick] [--section LIST] [--only DTYPE] [--json FILE]
Decode/prefill tokens/s per family, format and thread count beside the rooflines measured in the
same run (bandwidth, FMA peak), batched decode, our matmul against onnxruntime-web, and session
store and resume timings. Prints Markdown tables; progress on stderr.
  --backend webgpu the RWKV-7 0.1B, Mamba 130M, Mamba-2 130M and RetNet ~0.1B shapes on WebGPU
                   instead: f16 and f32, decode at 1, 16 and 64 sessions, prefill, one session's
                   greedy decode with each step waiting for its pick and with steps in flight, the
                   GPU's copy bandwidth (sections do not apply); WEBGPU_PREFILL=chunked|recurrent
                   forces Mamba-2's and RetNet's prefill form (default: timed, the faster)
  --quick          fewer tokens per measurement (a smoke run; webgpu: 1 layer, vocabulary 4096)
  --section LIST   comma-separated: models,families,batch,peer,sessions (default: all)
  --only FORMAT    in "models" and "families", only f32, f16, bf16, int8 or q4 (int8 and q4: bf16 quantized as it loads)
  --json FILE      also write the measurements as JSON
  -h, --help       this text`;

exitOnUserMistakes();
const { values } = parseCommand(USAGE, {
  quick: { type: "boolean" },
  json: { type: "string" },
  only: { type: "string" },
  section: { type: "string" },
  backend: { type: "string" },
});
if (values.backend !== undefined && values.backend !== "wasm" && values.backend !== "webgpu") {
  console.error(`--backend takes wasm or webgpu, got "${values.backend}"`);
  Deno.exit(2);
}
const onGpu = values.backend === "webgpu";
const DECODE_TOKENS = values.quick ? 8 : 32;
const PREFILL_TOKENS = values.quick ? 128 : 512;
const SECTIONS = ["models", "families", "batch", "peer", "sessions"];
// --backend webgpu runs its own measurements (queueGpuJobs), none of the WASM sections.
const sections = new Set(onGpu ? [] : (values.section ?? SECTIONS.join(",")).split(","));
for (const s of sections) {
  if (!SECTIONS.includes(s)) {
    console.error(`Unknown section "${s}": use ${SECTIONS.join(", ")}`);
    Deno.exit(2);
  }
}
/** Formats measured: the checkpoint's three element types, and bf16 quantized as it loads. */
const FORMATS = ["f32", "f16", "bf16", "int8", "q4"] as const;
type Format = typeof FORMATS[number];
if (values.only && !FORMATS.includes(values.only as Format)) {
  console.error(`--only takes ${FORMATS.join(", ")}, got "${values.only}"`);
  Deno.exit(2);
}
if (onGpu && values.only && values.only !== "f16" && values.only !== "f32") {
  console.error(`--backend webgpu measures f16 and f32: --only takes one of them, got "${values.only}"`);
  Deno.exit(2);
}
const dtypes: readonly Format[] = values.only ? [values.only as Format] : FORMATS;
/** The checkpoint element type a format starts from, and what it is quantized into. */
const formatOf = (f: Format): { dtype: WeightDType; weights?: QuantFormat } =>
  f === "int8"
    ? { dtype: "bf16", weights: "q8" }
    : f === "q4"
    ? { dtype: "bf16", weights: "q4" }
    : { dtype: f };
const cores = navigator.hardwareConcurrency ?? 1;
const threadCounts = [1, ...(cores > 1 && wasmThreadsSupported() ? [cores] : [])];

/** One unit of work: what the progress line counts. */
interface Job {
  readonly label: string;
  run(): Promise<void>;
}
const jobs: Job[] = [];
const measurements: Measurement[] = [];
const gpuRows: GpuMeasurement[] = [];
const gpuCopy: { value?: CopyBandwidth } = {};
const bandwidth = new Map<number, number>();
const flops = new Map<number, number>();
const roof: Rooflines = { bandwidth, flops };
const counts = { decode: DECODE_TOKENS, prefill: PREFILL_TOKENS, batchSteps: values.quick ? 4 : 16 };
/** The progress line, once the jobs are counted. */
const shown: { progress?: Progress } = {};
/** Prints table lines to stdout without tearing the progress line on a terminal. */
function say(...lines: string[]) {
  shown.progress?.clear();
  console.log(lines.join("\n"));
  shown.progress?.refresh();
}

if (onGpu) queueGpuJobs();

/** `--backend webgpu`: the copy bandwidth, each model in f16 and f32, then the table. */
function queueGpuJobs() {
  const gpuCounts = values.quick
    ? { decode: 4, prefill: CHUNK, steps: 2 }
    : { decode: DECODE_TOKENS, prefill: PREFILL_TOKENS, steps: 16 };
  let copy: CopyBandwidth | undefined;
  jobs.push({
    label: "copy bandwidth",
    async run() {
      const measured = await gpuCopyBandwidth(values.quick ?? false);
      copy = measured.copy;
      say(
        measured.line,
        `decode: median of ${gpuCounts.decode} single-token steps, and of ${gpuCounts.steps} steps of 16 and 64 ` +
          `sessions; prefill: ${gpuCounts.prefill} tokens in chunks of ${CHUNK}; greedy: ${
            2 * gpuCounts.decode
          } tokens each way.`,
      );
    },
  });
  const rows: GpuMeasurement[] = [];
  for (const subject of gpuSubjects(values.quick ?? false)) {
    for (const dtype of values.only ? [values.only as WeightDType] : ["f16", "f32"] as const) {
      jobs.push({
        label: `${subject.name} ${dtype} on WebGPU`,
        async run() {
          rows.push(await measureGpu(subject, dtype, gpuCounts));
        },
      });
    }
  }
  jobs.push({
    label: "table",
    run() {
      say("", ...gpuTable(rows, copy!));
      gpuRows.push(...rows);
      gpuCopy.value = copy;
      return Promise.resolve();
    },
  });
}

if (!onGpu) {
  jobs.push({
    label: "rooflines",
    async run() {
      for (const t of threadCounts) {
        bandwidth.set(
          t,
          t === 1 ? await measureWasmBandwidth() : await measureWasmBandwidth(undefined, 5, t),
        );
        flops.set(t, await measureWasmFmaPeak(t));
      }
      say(
        `Rooflines, measured now: WASM memory read bandwidth ${
          threadCounts.map((t) => `${(bandwidth.get(t)! / 1e9).toFixed(1)} GB/s on ${t} thread(s)`).join(", ")
        }; FMA peak ${
          threadCounts.map((t) => `${(flops.get(t)! / 1e9).toFixed(1)} GFLOP/s on ${t}`).join(", ")
        }.`,
        `decode: median of ${DECODE_TOKENS} single-token steps (or of ~200 ms of them); prefill: ${PREFILL_TOKENS} tokens in chunks of ${CHUNK} (median of repeats over ~200 ms); ` +
          `16 sessions: median of ${counts.batchSteps} batched steps (or of ~200 ms of them), 1 thread.`,
      );
    },
  });
}

/** Queues the measurements of one checkpoint in every format and thread count. */
function measureEach(
  name: string,
  make: (dtype: WeightDType) => TensorMap,
  config?: Record<string, unknown>,
) {
  for (const dtype of dtypes) {
    let tensors: TensorMap | undefined;
    for (const threads of threadCounts) {
      jobs.push({
        label: `${name} ${dtype} ${threads}T`,
        async run() {
          const { dtype: stored, weights } = formatOf(dtype);
          tensors ??= make(stored);
          measurements.push(await measure(name, tensors, threads, roof, counts, config, weights));
          if (threads === threadCounts.at(-1)) tensors = undefined;
        },
      });
    }
  }
}

if (sections.has("models")) {
  let defaultTensors: TensorMap | undefined;
  measureEach("default (rwkv7-kjv-4m)", (dtype) => {
    defaultTensors ??= parseSafetensors(Deno.readFileSync(`${DEFAULT_MODEL_DIR}/model.safetensors`));
    return withDtype(defaultTensors, dtype);
  });
  measureEach("rwkv7 0.1B shape (random)", (dtype) => randomRwkv7(RWKV7_0_1B, dtype));
}
if (sections.has("families")) {
  for (const make of [rwkv4_169m, mamba_130m, mamba2_130m, retnet_100m]) {
    const { name, config } = make();
    measureEach(`${name} (random)`, (dtype) => withDtype(make().tensors, dtype), config);
  }
}
if (sections.has("models") || sections.has("families")) {
  jobs.push({
    label: "table",
    run() {
      say(
        "",
        ...sideBySide(measurements, threadCounts.at(-1)!),
        "",
        "For scale (from the design brief, llama.cpp AVX-512 on this machine class, 1 thread): RWKV-7 0.1B decode" +
          " f32 56, f16 141 tok/s; prefill f32 435, f16 802 tok/s.",
      );
      return Promise.resolve();
    },
  });
}
if (sections.has("batch")) {
  const models: [string, () => TensorMap][] = [
    [
      "default (rwkv7-kjv-4m)",
      () => parseSafetensors(Deno.readFileSync(`${DEFAULT_MODEL_DIR}/model.safetensors`)),
    ],
    ["rwkv7 0.1B shape bf16 (random)", () => randomRwkv7(RWKV7_0_1B, "bf16")],
  ];
  let header = false;
  for (const [name, make] of models) {
    jobs.push({
      label: `batched ${name}`,
      async run() {
        if (!header) {
          header = true;
          say(
            "\nBatched decode (WASM, 1 thread; one step = one token of every session), median step:\n",
            "| model | sessions | total tok/s | × one session | new request's first token, 15 busy ÷ idle |",
            "| --- | ---: | ---: | ---: | ---: |",
          );
        }
        const model = await buildModel(make(), 1);
        try {
          const rowsOut = await benchBatch(model, [1, 4, 16], counts.batchSteps);
          const idle = await firstTokenMs(model, 32, 0);
          const busy = await firstTokenMs(model, 32, 15);
          for (const r of rowsOut) {
            const ttft = r.sessions === 16
              ? `${(busy / idle).toFixed(2)} (${busy.toFixed(0)} ÷ ${idle.toFixed(0)} ms)`
              : "";
            say(`| ${name} | ${r.sessions} | ${r.totalTps.toFixed(1)} | ${r.gain.toFixed(2)} | ${ttft} |`);
          }
        } finally {
          model.backend.close();
        }
      },
    });
  }
}
if (sections.has("peer")) {
  jobs.push({
    label: "matmul against onnxruntime-web",
    async run() {
      say("\nMatmul against onnxruntime-web (its WASM backend, 1 thread; ours 1 thread), best of 7:\n");
      say(...await benchPeer([[768, 768], [3072, 768], [768, 3072], [65536, 768]]));
    },
  });
}
if (sections.has("sessions")) {
  jobs.push({
    label: "session store and resume",
    async run() {
      const small = await loadModel(DEFAULT_MODEL_DIR);
      const dir = await Deno.makeTempDir();
      await Deno.writeFile(
        `${dir}/model.safetensors`,
        writeSafetensors(randomRwkv7(RWKV7_0_1B, "bf16").values()),
      );
      await Deno.copyFile(`${DEFAULT_MODEL_DIR}/vocab.txt`, `${dir}/vocab.txt`);
      const big = await loadModel(dir, { id: "rwkv7-0.1B-shape", threads: 1 });
      say("\nSession state in the store (median of 7):\n", ...await benchStore([small, big]));
      const histories = values.quick ? [10, 1000] : [10, 1000, 10000];
      say(
        `\nTime to first token after resuming a session (${small.id}), median of 5:\n`,
        ...await benchResume(small, histories),
      );
      big.model.backend.close();
      small.model.backend.close();
      await Deno.remove(dir, { recursive: true });
    },
  });
  jobs.push({
    label: "across instances",
    async run() {
      const trials = values.quick ? 1 : 3;
      say(
        `\nAcross instances (two server processes on one store, LEASE_MS 1000, ${trials} kill(s)):\n`,
        ...await benchCluster(trials),
      );
    },
  });
}

const progress = shown.progress = new Progress("bench", {
  total: jobs.length,
  unit: "steps",
  every: 1 / jobs.length,
});
for (const job of jobs) {
  await job.run();
  progress.tick();
}
progress.done();
if (values.json) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify(
      onGpu
        ? {
          copyBandwidth: gpuCopy.value?.bytesPerSecond,
          adapter: gpuCopy.value?.adapter,
          measurements: gpuRows,
        }
        : { bandwidth: Object.fromEntries(bandwidth), flops: Object.fromEntries(flops), measurements },
      null,
      1,
    ),
  );
}
