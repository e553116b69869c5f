// The WASM backend on every op of the op lists (the cases tests/webgpu_test.ts runs on the GPU),
// against the reference backend on the same seeded inputs, each within its case's named tolerance:
// its element-wise ops run in WASM SIMD (elementwise.c, f32 with a polynomial exp) where the
// reference computes in f64, so they agree to a tolerance, not bit for bit.
import { createWasmBackend } from "../kernels/wasm/backend.ts";
import { createReferenceBackend } from "../kernels/reference/backend.ts";
import { compareOps } from "./helpers/webgpu.ts";
import { OP_CASES } from "./helpers/webgpu_op_cases.ts";

const reference = createReferenceBackend();
const SIZE = { capacity: 1 << 22, maxCols: 256 };

for (const [label, options] of [["", {}], [" (baseline build)", { baseline: true }]] as const) {
  for (const [name, tol, build] of OP_CASES) {
    Deno.test(`wasm${label} ${name} matches the reference (tolerance ${tol})`, async () => {
      const wasm = await createWasmBackend({ ...SIZE, ...options });
      try {
        await compareOps({ gpu: wasm, reference }, build, { tol, seed: 17, times: 2, what: name });
      } finally {
        wasm.close();
      }
    });
  }
}
