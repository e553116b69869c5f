import type { Op, Tensor, TensorDType } from "../ops.ts";
import type { Backend, Matrix, MatrixSource } from "../types.ts";
import { type AdapterInfo, requestGpuDevice } from "./device.ts";
import { planChunked, planOp } from "./encode.ts";
import { hostBytes, tensorUsage } from "./memory.ts";
import { GpuMatrix, placeMatrix } from "./bands.ts";
import { gpu, type Plan, type PlanContext } from "./plan.ts";
import { Hold } from "./hold.ts";
import {
  defaultPrefillForm,
  type Form,
  longestRun,
  PrefillChoice,
  type PrefillForm,
  timeForms,
} from "./prefill_choice.ts";

/** Options of {@linkcode createWebGpuBackend} (the registry's size; GPU buffers are made one by one). */
export interface WebGpuBackendOptions {
  /** Bytes of weights and buffers the model needs (informational here). */
  readonly capacity?: number;
  /** The widest matrix, in columns (informational here). */
  readonly maxCols?: number;
  /**
   * Most bytes of one matrix band (default and at most: the adapter's largest storage binding);
   * tests set it low to run the banded path.
   */
  readonly bandBytes?: number;
  /**
   * How a prefill's long runs run where an op has a chunked form (RetNet, Mamba-2): the faster
   * form as timed on this adapter (default), or always one (kernels/webgpu/prefill_choice.ts). On a
   * software adapter (kernels/webgpu/device.ts) the default is the recurrence, untimed.
   */
  readonly prefill?: PrefillForm;
}

/** A plan made ready: its pipeline and bind group, built once per op instance. */
interface Ready {
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
  readonly dispatch: readonly [number, number, number];
}

/** An op's ready plans, and those of its chunked form where it has one at its size. */
interface Forms {
  readonly recurrent: Ready[];
  readonly chunked?: Ready[];
}

const OP_LISTS_ONLY = "The WebGPU backend runs op lists only: use tensor(), write(), submit() and read()";

/**
 * The WebGPU backend: tensors are storage buffers, weights stay in GPU memory (16-bit ones
 * packed, widened in the shaders; q8/q4 ones dequantized in the shaders), and `submit` encodes a whole op list into one command
 * buffer. It has no synchronous path (`sync` is undefined): models run through `step()`. RetNet's
 * and Mamba-2's long prefill runs take the form timed faster on the adapter (prefill_choice.ts).
 */
export async function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<Backend> {
  const device = await requestGpuDevice();
  const limit = Math.min(options.bandBytes ?? Infinity, device.limits.maxStorageBufferBindingSize);
  const pipelines = new Map<string, GPUComputePipeline>();
  const ready = new WeakMap<Op, Forms>();
  const info = (device as { adapterInfo?: AdapterInfo }).adapterInfo ?? {};
  const prefill = new PrefillChoice(options.prefill ?? defaultPrefillForm(info));
  // What the host last wrote to each i32 tensor (row tables are small): the runs of a step.
  const hostInts = new WeakMap<Tensor, Int32Array>();
  const scratch = new Map<number, GPUBuffer>();
  const hold = new Hold();
  let timing = false;
  const uploaded = new WeakMap<Matrix, GpuMatrix>();
  const none = device.createBuffer({ label: "none", size: 16, usage: GPUBufferUsage.STORAGE });

  const ctx: PlanContext = {
    none,
    scratch(bytes: number): GPUBuffer | undefined {
      const most = device.limits.maxStorageBufferBindingSize;
      if (bytes > most) return undefined;
      // Sizes rounded up to powers of two, so steps of many sizes share a few buffers.
      const size = Math.min(2 ** Math.ceil(Math.log2(Math.max(bytes, 16))), most);
      let b = scratch.get(size);
      if (!b) {
        scratch.set(
          size,
          b = device.createBuffer({ label: "chunk scratch", size, usage: GPUBufferUsage.STORAGE }),
        );
      }
      return b;
    },
    matrix(m: Matrix): GpuMatrix {
      if (m.handle instanceof GpuMatrix) return m.handle;
      // A host matrix (the models keep embedding tables on the host): uploaded once, on first use.
      let placed = uploaded.get(m);
      if (!placed) {
        const src = { rows: m.rows, cols: m.cols, dtype: m.dtype, bytes: hostBytes(m) };
        uploaded.set(
          m,
          placed = placeMatrix(device, src, { limit, label: `host matrix [${m.rows}][${m.cols}]` }),
        );
      }
      return placed;
    },
  };

  function pipeline(plan: Plan): GPUComputePipeline {
    let p = pipelines.get(plan.key);
    if (!p) {
      const module = device.createShaderModule({ label: plan.key, code: plan.code() });
      p = device.createComputePipeline({
        label: plan.key,
        layout: plan.allBound ? allBoundLayout(device, plan.buffers.length) : "auto",
        compute: { module, entryPoint: "main" },
      });
      pipelines.set(plan.key, p);
    }
    return p;
  }

  function prepare(plan: Plan): Ready {
    const p = pipeline(plan);
    const params = device.createBuffer({
      label: `${plan.key} params`,
      size: Math.max(16, Math.ceil(plan.params.byteLength / 16) * 16),
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(params, 0, plan.params);
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: params } },
      ...plan.buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
    ];
    const group = device.createBindGroup({ label: plan.key, layout: p.getBindGroupLayout(0), entries });
    return { pipeline: p, group, dispatch: plan.dispatch };
  }

  function formsOf(op: Op): Forms {
    let r = ready.get(op);
    if (!r) {
      const recurrent = planOp(op, ctx).map(prepare);
      ready.set(op, r = { recurrent, chunked: planChunked(op, ctx)?.map(prepare) });
    }
    return r;
  }

  function encode(steps: readonly Ready[]): void {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const r of steps) {
      pass.setPipeline(r.pipeline);
      pass.setBindGroup(0, r.group);
      pass.dispatchWorkgroups(r.dispatch[0], r.dispatch[1], r.dispatch[2]);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
  }

  // The ops' plans, each op with a chunked form in the form chosen for this step's runs; where no
  // choice is made yet, what comes before is submitted and both forms are timed (prefill_choice.ts).
  async function run(ops: readonly Op[], forms: readonly Forms[]): Promise<void> {
    let steps: Ready[] = [];
    for (let i = 0; i < ops.length; i++) {
      const { recurrent, chunked } = forms[i];
      const op = ops[i];
      if (!chunked || (op.op !== "retention" && op.op !== "ssdScan")) {
        steps.push(...recurrent);
        continue;
      }
      const first = hostInts.get(op.rows.first);
      const longest = first ? longestRun(first, op.n) : op.n;
      let form: Form | undefined = prefill.form(op, longest);
      if (!form) {
        encode(steps);
        steps = [];
        timing = true;
        try {
          const times = await timeForms(
            device,
            op.state,
            (f) => encode(f === "chunked" ? chunked : recurrent),
          );
          form = prefill.record(op, longest, times);
        } finally {
          timing = false;
        }
      }
      steps.push(...(form === "chunked" ? chunked : recurrent));
    }
    encode(steps);
  }

  function checkRange(t: Tensor, row: number, rows: number, what: string): void {
    if (!Number.isInteger(row) || !Number.isInteger(rows) || row < 0 || rows < 0 || row + rows > t.rows) {
      throw new RangeError(`${what} rows ${row}..${row + rows} of a [${t.rows}][${t.cols}] tensor`);
    }
  }

  return {
    name: "webgpu",
    threads: 1,
    matrix(src: MatrixSource): Matrix {
      const handle = placeMatrix(device, src, {
        limit,
        label: `matrix [${src.rows}][${src.cols}] ${src.dtype}`,
      });
      return { rows: src.rows, cols: src.cols, dtype: src.dtype, handle };
    },
    tensor(rows: number, cols: number, dtype: TensorDType = "f32"): Tensor {
      if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
        throw new RangeError(`A tensor is [rows][cols] of whole numbers, not [${rows}][${cols}]`);
      }
      const size = Math.max(4, rows * cols * 4);
      if (size > device.limits.maxStorageBufferBindingSize) {
        throw new RangeError(`A [${rows}][${cols}] tensor exceeds this GPU's largest storage binding`);
      }
      const handle = device.createBuffer({ label: `tensor [${rows}][${cols}]`, size, usage: tensorUsage() });
      return { rows, cols, dtype, handle };
    },
    write(t: Tensor, data: Float32Array | Int32Array, row = 0): void {
      if (row * t.cols + data.length > t.rows * t.cols || row < 0 || !Number.isInteger(row)) {
        throw new RangeError(
          `Writing ${data.length} values at row ${row} overflows a [${t.rows}][${t.cols}] tensor`,
        );
      }
      // A copy when the type differs or the values sit in shared memory (a WASM backend's).
      const values = t.dtype === "f32"
        ? (data instanceof Float32Array && data.buffer instanceof ArrayBuffer
          ? data as Float32Array<ArrayBuffer>
          : Float32Array.from(data))
        : (data instanceof Int32Array && data.buffer instanceof ArrayBuffer
          ? data as Int32Array<ArrayBuffer>
          : Int32Array.from(data));
      if (hold.active) void hold.after(() => writeNow(t, values.slice(), row));
      else writeNow(t, values, row);
    },
    submit(ops: readonly Op[]): Promise<void> {
      if (hold.active) return hold.after(() => submitNow(ops));
      const done = submitNow(ops);
      // Waiting on the GPU to time the prefill forms: later calls wait for the rest of this list.
      if (timing) void hold.after(() => done);
      return done;
    },
    read(t: Tensor, row = 0, rows = t.rows - row): Promise<Float32Array> {
      checkRange(t, row, rows, "Reading");
      return hold.active ? hold.after(() => readNow(t, row, rows)) : readNow(t, row, rows);
    },
    close(): void {
      device.destroy();
    },
    f32: opListsOnly,
    matvec: opListsOnly,
    matmul: opListsOnly,
    wkv7: opListsOnly,
    selectiveScan: opListsOnly,
    ssdScan: opListsOnly,
    retention: opListsOnly,
    wkv4: opListsOnly,
  };

  function writeNow(
    t: Tensor,
    values: Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer>,
    row: number,
  ): void {
    if (values.length > 0) device.queue.writeBuffer(gpu(t, "write target"), row * t.cols * 4, values);
    if (values instanceof Int32Array) {
      let mirror = hostInts.get(t);
      if (!mirror) hostInts.set(t, mirror = new Int32Array(t.rows * t.cols));
      mirror.set(values, row * t.cols);
    }
  }

  async function submitNow(ops: readonly Op[]): Promise<void> {
    // Validation is awaited only when the list has ops not seen before (their pipelines and bind
    // groups are new); later submits of a recorded list return at once. The queue runs work in
    // order, so a read() or write() after this sees the results.
    const fresh = ops.some((op) => !ready.has(op));
    if (fresh) device.pushErrorScope("validation");
    try {
      await run(ops, ops.map(formsOf));
    } catch (err) {
      if (fresh) await device.popErrorScope();
      throw err;
    }
    const error = fresh ? await device.popErrorScope() : null;
    if (error) throw new Error(`WebGPU rejected the op list: ${error.message}`);
  }

  async function readNow(t: Tensor, row: number, rows: number): Promise<Float32Array> {
    const size = rows * t.cols * 4;
    if (size === 0) return new Float32Array(0);
    const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(gpu(t, "read source"), row * t.cols * 4, staging, 0, size);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const bytes = staging.getMappedRange().slice(0);
      staging.unmap();
      return t.dtype === "f32" ? new Float32Array(bytes) : Float32Array.from(new Int32Array(bytes));
    } finally {
      staging.destroy();
    }
  }
}

/** A layout binding the uniforms at 0 and `buffers` read-write storage buffers at 1, 2, … */
function allBoundLayout(device: GPUDevice, buffers: number): GPUPipelineLayout {
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform" } },
  ];
  for (let i = 1; i <= buffers; i++) {
    entries.push({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } });
  }
  return device.createPipelineLayout({ bindGroupLayouts: [device.createBindGroupLayout({ entries })] });
}

function opListsOnly(): never {
  throw new TypeError(OP_LISTS_ONLY);
}
