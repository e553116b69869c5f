/**
 * Our WASM matmul against onnxruntime-web's (its WASM backend, one thread) on the
 * same f32 shapes, in one run: one token (matvec, decode's bottleneck) and 64
 * tokens (prefill's).
 *
 * @module
 */

// Pinned here, not in deno.json: `deno task` installs whatever the import map names, even for `start`.
// deno-lint-ignore no-import-prefix
import * as ort from "npm:onnxruntime-web@1.30.0";
import { createBackend } from "../kernels/mod.ts";
import { mulberry32 } from "../engine/mod.ts";
import { matmulModel } from "./onnx_matmul.ts";

async function best(fn: () => unknown, repeats: number): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

/** Markdown rows: shape, tokens, ms and GFLOP/s for onnxruntime-web and for us, and the ratio. */
export async function benchPeer(shapes: [rows: number, cols: number][]): Promise<string[]> {
  ort.env.wasm.numThreads = 1;
  const rand = mulberry32(9);
  const lines = [
    "| weights (rows × cols, f32) | tokens | onnxruntime-web ms | ours ms | ours GFLOP/s | ratio (ours faster by) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [rows, cols] of shapes) {
    const w = new Float32Array(rows * cols).map(() => rand() - 0.5);
    const wT = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) wT[c * rows + r] = w[r * cols + c];
    const session = await ort.InferenceSession.create(matmulModel(wT, cols, rows), {
      executionProviders: ["wasm"],
    });
    const backend = await createBackend({ capacity: rows * cols * 4 + (64 << 20), maxCols: cols }, "wasm");
    const m = backend.matrix({ rows, cols, dtype: "f32", bytes: new Uint8Array(w.buffer) });
    for (const tokens of [1, 64]) {
      const xs = new Float32Array(tokens * cols).map(() => rand() - 0.5);
      const x = backend.f32(tokens * cols);
      x.set(xs);
      const y = backend.f32(tokens * rows);
      const feeds = { x: new ort.Tensor("float32", xs, [tokens, cols]) };
      const theirs = await best(() => session.run(feeds), 7);
      const ours = await best(
        () => tokens === 1 ? backend.matvec(m, x, y) : backend.matmul(m, x, y, tokens),
        7,
      );
      const gflops = (2 * rows * cols * tokens) / ours / 1e6;
      lines.push(
        `| ${rows} × ${cols} | ${tokens} | ${theirs.toFixed(2)} | ${ours.toFixed(2)} | ${
          gflops.toFixed(1)
        } | ${(theirs / ours).toFixed(2)}× |`,
      );
    }
    await session.release();
    backend.close();
  }
  return lines;
}
