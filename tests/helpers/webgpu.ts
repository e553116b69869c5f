// Helpers of tests/webgpu_test.ts: whether this machine has a WebGPU adapter, and the same op
// list built on two backends from one seed, its outputs compared with a named tolerance.
import assert from "node:assert/strict";
import type { Backend, Op, Tensor, TensorDType } from "../../kernels/mod.ts";
import { mulberry32 } from "../../engine/prng.ts";

/** Why WebGPU tests cannot run here, or undefined when an adapter answers. */
export async function webgpuMissing(): Promise<string | undefined> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return "no navigator.gpu: run deno test with --unstable-webgpu";
  const adapter = await gpu.requestAdapter().catch(() => null);
  return adapter ? undefined : "no WebGPU adapter (install mesa-vulkan-drivers for lavapipe)";
}

/** Makes tensors on one backend from a seeded stream, so two backends get the same values. */
export class Inputs {
  readonly #rand: () => number;
  constructor(readonly backend: Backend, seed: number) {
    this.#rand = mulberry32(seed);
  }

  /** A uniform random number in [lo, hi). */
  next(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.#rand();
  }

  /** A `[rows][cols]` f32 tensor of random values in [lo, hi). */
  random(rows: number, cols: number, lo = -1, hi = 1): Tensor {
    return this.values(rows, cols, Float32Array.from({ length: rows * cols }, () => this.next(lo, hi)));
  }

  /** A tensor holding `data` (`[rows][cols]`, i32 when `data` is an Int32Array). */
  values(rows: number, cols: number, data: Float32Array | Int32Array): Tensor {
    const dtype: TensorDType = data instanceof Int32Array ? "i32" : "f32";
    const t = this.backend.tensor(rows, cols, dtype);
    this.backend.write(t, data);
    return t;
  }

  /** A `[rows][1]` i32 tensor. */
  ints(values: number[]): Tensor {
    return this.values(values.length, 1, Int32Array.from(values));
  }
}

/** What a case builds on a backend: the op list and the tensors to compare after it ran. */
export interface Built {
  readonly ops: Op[];
  readonly outputs: Record<string, Tensor>;
}

/** Largest |actual - expected| / max(1, |expected|), and where. */
export function maxError(actual: Float32Array, expected: Float32Array): { error: number; at: number } {
  assert.equal(actual.length, expected.length, "lengths");
  let error = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(e <= error)) [error, at] = [Number.isNaN(e) ? Infinity : e, i];
  }
  return { error, at };
}

/**
 * Builds the case on both backends from the same seed, submits it `times` times on each, and
 * asserts every output within `tol`; returns the largest error seen.
 */
export async function compareOps(
  backends: { gpu: Backend; reference: Backend },
  build: (inputs: Inputs) => Built,
  options: { tol: number; seed: number; times?: number; what: string },
): Promise<number> {
  const run = async (backend: Backend) => {
    const built = build(new Inputs(backend, options.seed));
    for (let i = 0; i < (options.times ?? 1); i++) await backend.submit(built.ops);
    const out: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(built.outputs)) out[name] = await backend.read(t);
    return out;
  };
  const want = await run(backends.reference);
  const got = await run(backends.gpu);
  let worst = 0;
  for (const name of Object.keys(want)) {
    const { error, at } = maxError(got[name], want[name]);
    assert.ok(
      error <= options.tol,
      `${options.what} ${name}[${at}]: ${got[name][at]} on WebGPU vs ${
        want[name][at]
      } (tolerance ${options.tol})`,
    );
    worst = Math.max(worst, error);
  }
  return worst;
}
