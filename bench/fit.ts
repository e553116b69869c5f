/**
 * Which RWKV-7 sizes fit a 128 MB Workers isolate in which weight format, computed (not measured
 * under workerd): the weight file (a Workers bundle holds it in the isolate as an ArrayBuffer) plus
 * the WASM memory the model asks for (its matrices, quantized or not; the state arena of 4 slots as
 * workers/entry.ts makes it; working buffers for a 64-token chunk). The embedding is read from the
 * file in place (aligned), stored quantized in the int8 and q4 files. The app's own JS heap comes on
 * top (not counted).
 *
 *   deno run --allow-read bench/fit.ts
 *
 * @module
 */

import { type QuantFormat, quantizedBytes } from "../kernels/mod.ts";
import { backendSize, FAMILIES, type TensorMap } from "../models/mod.ts";
import { quantizedSavings, quantizesEmbedding } from "../models/quantize.ts";
import { randomRwkv7, type Rwkv7Shape } from "./random_rwkv7.ts";

const SHAPES: [string, Rwkv7Shape][] = [
  ["4 M (the default's shape)", { nLayer: 4, nEmbd: 256, headSize: 32, vocab: 1024 }],
  ["0.1 B", { nLayer: 12, nEmbd: 768, headSize: 64, vocab: 65536 }],
  ["0.4 B", { nLayer: 24, nEmbd: 1024, headSize: 64, vocab: 65536 }],
  ["1.5 B", { nLayer: 24, nEmbd: 2048, headSize: 64, vocab: 65536 }],
];
const LIMIT = 128 * 1024 * 1024;
const MB = (n: number) => (n / 1e6).toFixed(0);

/**
 * Bytes a file written by `deno task quantize` takes (approximately: transposed LoRA matrices stay
 * bf16 there), its quantized embedding included.
 */
function fileBytes(tensors: TensorMap, embedding: string, weights?: QuantFormat): number {
  let total = 0;
  for (const t of tensors.values()) total += t.bytes.byteLength;
  if (!weights) return total;
  const emb = tensors.get(embedding)!;
  const [rows, cols] = emb.shape;
  const embSaved = quantizesEmbedding(emb) ? emb.bytes.byteLength - quantizedBytes(weights, rows, cols) : 0;
  return total - quantizedSavings(tensors, weights, embedding).saved - embSaved;
}

console.log("| RWKV-7 size | bf16: file + WASM = total | int8 | q4 |");
console.log("| --- | --- | --- | --- |");
for (const [name, shape] of SHAPES) {
  const tensors = randomRwkv7(shape, "bf16", 1, true);
  const spec = FAMILIES.get("rwkv7")!;
  const cells = ([undefined, "q8", "q4"] as const).map((weights) => {
    const wasm = backendSize(spec, tensors, { chunk: 64, slots: 4, weights }).capacity;
    const file = fileBytes(tensors, spec.embedding, weights);
    const total = file + wasm;
    return `${MB(file)} + ${MB(wasm)} = ${MB(total)} MB ${total <= LIMIT ? "fits" : "does not fit"}`;
  });
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
