/**
 * Writes a model directory with quantized weights, so small devices download the small file:
 * `deno task quantize IN_DIR OUT_DIR --weights int8|q4`. Every matrix the model multiplies in the
 * checkpoint's orientation is stored quantized (the layout: models/formats/safetensors.ts), and so is
 * the embedding; the rest (matrices the model transposes as it loads, the ones kept in full precision)
 * stays as it was, and loading quantizes whatever of it the format covers. The other files are copied. Before
 * it finishes it loads both and checks the new directory predicts exactly what the original does
 * with `--weights`.
 *
 * @module
 */

import { type Matrix, type MatrixSource, type QuantFormat, quantizeMatrix } from "../kernels/mod.ts";
import { createReferenceBackend } from "../kernels/reference/backend.ts";
import {
  FAMILIES,
  loadModel,
  parseSafetensors,
  pickModelFiles,
  safetensorsHeader,
  type TensorMap,
} from "../models/mod.ts";
import { quantizes, quantizesEmbedding } from "../models/quantize.ts";
import { SCALES_SUFFIX } from "../models/formats/safetensors.ts";
import type { TensorEntry } from "../models/formats/safetensors.ts";
import { parsePythonJson } from "../models/formats/python_json.ts";
import { weightsFlag } from "./defaults.ts";
import { exitOnUserMistakes, fail, parseCommand, USAGE_EXIT } from "./command.ts";

const USAGE = `Usage: deno task quantize IN_DIR OUT_DIR --weights int8|q4
Writes OUT_DIR: IN_DIR's model with its multiplied matrices stored quantized (int8: 9 bits per weight,
q4: 5), its other files copied. Serve it like any model directory.
  --weights W   int8 or q4
  -h, --help    this text`;

if (import.meta.main) {
  exitOnUserMistakes();
  const { values, positionals } = parseCommand(USAGE, { weights: { type: "string" } });
  const [input, output, ...extra] = positionals;
  if (!input || !output || extra.length) fail("Expected IN_DIR OUT_DIR (--help for details)", USAGE_EXIT);
  const format = weightsFlag(values.weights);
  if (!format) fail("Name the format with --weights int8 or --weights q4", USAGE_EXIT);
  await quantizeDirectory(input, output, format);
}

/** The names of the matrices the family places in their checkpoint orientation that `format` quantizes. */
function storedQuantized(tensors: TensorMap, config?: Record<string, unknown>): Set<string> {
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, config));
  if (!spec) fail("Not a model of a known family: nothing to quantize");
  const names = new Set<string>();
  const recorder = Object.create(createReferenceBackend());
  recorder.matrix = (src: MatrixSource): Matrix => {
    const t = src.name === undefined ? undefined : tensors.get(src.name);
    const asStored = t !== undefined && t.shape[0] === src.rows && t.shape[1] === src.cols;
    if (asStored && quantizes(src)) names.add(src.name!);
    return { rows: src.rows, cols: src.cols, dtype: src.dtype, data: new Float32Array(0) };
  };
  spec.model(tensors, recorder, config);
  // The embedding, looked up by row, is stored quantized as `--weights` quantizes it (a tied head with it).
  const embedding = tensors.get(spec.embedding);
  if (embedding && quantizesEmbedding(embedding)) names.add(spec.embedding);
  return names;
}

async function quantizeDirectory(input: string, output: string, format: QuantFormat): Promise<void> {
  const files: string[] = [];
  try {
    for await (const e of Deno.readDir(input)) if (e.isFile) files.push(e.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) fail(`No such model directory: ${input}`);
    throw err;
  }
  const picked = pickModelFiles(input, files);
  const bytes = await Deno.readFile(`${input}/${picked.weights}`);
  const tensors = parseSafetensors(bytes, picked.weights);
  const config = picked.config
    ? parsePythonJson(await Deno.readTextFile(`${input}/${picked.config}`)) as Record<string, unknown>
    : undefined;
  const names = storedQuantized(tensors, config);

  // The stored tensors: each quantized matrix as its packed weights and its scales.
  const entries: (TensorEntry & { bytes: Uint8Array })[] = [];
  for (const [name, t] of tensors) {
    if (!names.has(name)) {
      entries.push({
        name,
        dtype: t.dtype as TensorEntry["dtype"],
        shape: t.shape,
        byteLength: t.bytes.byteLength,
        bytes: t.bytes,
      });
      continue;
    }
    const [rows, cols] = t.shape;
    const q = quantizeMatrix({ name, rows, cols, dtype: t.dtype as "f32", bytes: t.bytes }, format);
    const packed = format === "q8" ? rows * cols : rows * cols / 2;
    entries.push({
      name,
      dtype: format === "q8" ? "i8" : "u8",
      shape: [rows, format === "q8" ? cols : cols / 2],
      byteLength: packed,
      bytes: q.bytes.subarray(0, packed),
    });
    const scales = q.bytes.subarray(packed);
    entries.push({
      name: name + SCALES_SUFFIX,
      dtype: "f32",
      shape: [rows, cols / 32],
      byteLength: scales.byteLength,
      bytes: scales,
    });
  }

  await Deno.mkdir(output, { recursive: true });
  const target = `${output}/${picked.weights}`;
  const partial = `${target}.partial`;
  const header = safetensorsHeader(entries, { quantized: format, source: picked.weights });
  const out = new Uint8Array(header.byteLength + entries.reduce((n, e) => n + e.byteLength, 0));
  out.set(header);
  let at = header.byteLength;
  for (const e of entries) {
    out.set(e.bytes, at);
    at += e.byteLength;
  }
  await Deno.writeFile(partial, out);
  await Deno.rename(partial, target);
  for (const name of files) {
    if (name !== picked.weights && !name.endsWith(".pth") && Object.values(picked).includes(name)) {
      await Deno.copyFile(`${input}/${name}`, `${output}/${name}`);
    }
  }
  await selfCheck(input, output, target, format);
  console.log(
    `${target}: ${names.size} matrices stored as ${format}, ${(bytes.byteLength / 1e6).toFixed(1)} MB → ${
      (out.byteLength / 1e6).toFixed(1)
    } MB`,
  );
}

/** The new directory must predict exactly what the original does quantized as it loads. */
async function selfCheck(input: string, output: string, target: string, format: QuantFormat): Promise<void> {
  const logits: Float32Array[] = [];
  for (const [dir, weights] of [[input, format], [output, undefined]] as const) {
    const loaded = await loadModel(dir, { weights, threads: 1 });
    const prompt = [1, 2, 3, 4, 5].map((i) => i % loaded.model.info.vocabSize);
    logits.push(loaded.model.forward(prompt, loaded.model.newState()));
    loaded.model.backend.close();
  }
  if (!logits[0].every((v, i) => v === logits[1][i])) {
    await Deno.remove(target);
    fail(`${target} does not predict what ${input} does with --weights ${format}: removed it`);
  }
}
