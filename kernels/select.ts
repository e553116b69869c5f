/**
 * `--backend auto`: WebGPU when this runtime has a hardware adapter that computes a few ops as the
 * reference backend does (some adapters report features they compute wrongly), else WASM-SIMD, else
 * the reference. A CPU fallback adapter (e.g. Mesa's llvmpipe) is passed over: it is slower than WASM.
 *
 * @module
 */

import type { Op } from "./ops.ts";
import type { Backend, BackendName, MatrixSource } from "./types.ts";
import { createReferenceBackend } from "./reference/backend.ts";
import { createWebGpuBackend } from "./webgpu/backend.ts";
import { wasmSimdSupported } from "./wasm/loader.ts";

/** The backend `auto` chose, and why (the start line says it). */
export interface BackendChoice {
  readonly name: BackendName;
  readonly why: string;
}

/** Picks the backend for `--backend auto` (see the module's description). */
export async function chooseBackend(): Promise<BackendChoice> {
  const cpu: BackendName = wasmSimdSupported() ? "wasm" : "reference";
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return { name: cpu, why: "this runtime has no WebGPU" };
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  if (!adapter) return { name: cpu, why: "no WebGPU adapter" };
  const what = adapter.info.description || adapter.info.vendor || "the adapter";
  if (adapter.info.isFallbackAdapter) {
    return { name: cpu, why: `the only WebGPU adapter is a CPU fallback (${what})` };
  }
  const failure = await selfCheck().catch((err) => String(err?.message ?? err));
  return failure
    ? { name: cpu, why: `the WebGPU adapter ${what} failed its self-check: ${failure}` }
    : { name: "webgpu", why: `the WebGPU adapter ${what} passed its self-check` };
}

/**
 * A matmul on f32 and bf16 weights and a few element-wise ops on known inputs, on WebGPU and on the
 * reference; the first disagreement beyond 1e-4 (relative to the sum's scale), or undefined.
 */
export async function selfCheck(): Promise<string | undefined> {
  const rows = 48, cols = 96, n = 3;
  const values = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * 0.5);
  const bf16 = new Uint16Array(new Uint32Array(values.buffer).map((u) => u >>> 16));
  const x = Float32Array.from({ length: n * cols }, (_, i) => Math.cos(i * 0.11));
  const sources: MatrixSource[] = [
    { rows, cols, dtype: "f32", bytes: new Uint8Array(values.buffer) },
    { rows, cols, dtype: "bf16", bytes: new Uint8Array(bf16.buffer) },
  ];
  const run = async (backend: Backend) => {
    const input = backend.tensor(n, cols);
    backend.write(input, x);
    const outs = [];
    const ops: Op[] = [];
    for (const src of sources) {
      const out = backend.tensor(n, rows), act = backend.tensor(n, rows);
      ops.push({ op: "matmul", w: backend.matrix(src), x: input, out, n });
      ops.push({ op: "unary", fn: "silu", x: out, out: act, n });
      outs.push(out, act);
    }
    await backend.submit(ops);
    return await Promise.all(outs.map((t) => backend.read(t)));
  };
  const gpu = await createWebGpuBackend({ capacity: 1 << 20, maxCols: cols });
  try {
    const [got, want] = [await run(gpu), await run(createReferenceBackend())];
    for (let k = 0; k < want.length; k++) {
      for (let i = 0; i < want[k].length; i++) {
        if (!(Math.abs(got[k][i] - want[k][i]) <= 1e-4 * cols)) {
          return `output ${k}[${i}] is ${got[k][i]}, the reference says ${want[k][i]}`;
        }
      }
    }
    return undefined;
  } finally {
    gpu.close();
  }
}
