/**
 * Reads and writes the safetensors format: an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte range, then
 * the raw data. Reading validates every entry and throws a ModelLoadError that
 * names the offending tensor.
 *
 * @module
 */

import {
  dtypeBytes,
  isQuantized,
  type MatrixDType,
  type QuantFormat,
  type WeightDType,
} from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import { numel, type RawTensor, type TensorMap } from "./tensor.ts";

const DTYPES: Record<string, WeightDType> = { F32: "f32", F16: "f16", BF16: "bf16" };

/**
 * Quantized checkpoints (written by `deno task quantize`) say so in their metadata: `{"quantized": "q8"}`
 * or `"q4"`. Each quantized matrix NAME of `[rows, cols]` is stored as NAME (I8 `[rows, cols]` for q8,
 * U8 `[rows, cols / 2]` for q4: kernels/quant.ts's packing) and NAME.q_scales (F32 `[rows, cols / 32]`).
 */
export const QUANTIZED_METADATA = "quantized";
/** The suffix of a quantized matrix's scales tensor. */
export const SCALES_SUFFIX = ".q_scales";
const NAMES: Record<WeightDType | "i8" | "u8", string> = {
  f32: "F32",
  f16: "F16",
  bf16: "BF16",
  i8: "I8",
  u8: "U8",
};
const MAX_HEADER = 100 * 1024 * 1024;

/** Parses a safetensors file held in memory; `file` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, file = "safetensors file"): TensorMap {
  if (bytes.byteLength < 8) throw new ModelLoadError(`${file}: too short to hold a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER || 8 + headerLength > bytes.byteLength) {
    throw new ModelLoadError(`${file}: header length ${headerLength} runs past the end of the file`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (cause) {
    throw new ModelLoadError(`${file}: header is not valid JSON`, { cause });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new ModelLoadError(`${file}: header is not a JSON object`);
  }
  const data = bytes.subarray(8 + headerLength);
  const meta = header.__metadata__ as Record<string, unknown> | undefined;
  const quantized = meta?.[QUANTIZED_METADATA];
  if (quantized !== undefined && quantized !== "q8" && quantized !== "q4") {
    throw new ModelLoadError(
      `${file}: metadata names an unknown quantized format ${JSON.stringify(quantized)}`,
    );
  }
  const tensors = new Map<string, RawTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__" || (quantized && name.endsWith(SCALES_SUFFIX))) continue;
    const scales = quantized ? header[name + SCALES_SUFFIX] : undefined;
    tensors.set(
      name,
      scales === undefined
        ? readEntry(name, entry, data, file)
        : readQuantized(name, entry, scales, quantized as QuantFormat, data, file),
    );
  }
  return tensors;
}

// A quantized matrix: its packed weights and its scales, joined as one tensor of shape [rows, cols].
function readQuantized(
  name: string,
  entry: unknown,
  scalesEntry: unknown,
  format: QuantFormat,
  data: Uint8Array,
  file: string,
): RawTensor {
  const packed = readEntry(name, entry, data, file, format === "q8" ? "I8" : "U8");
  const scales = readEntry(name + SCALES_SUFFIX, scalesEntry, data, file);
  const [rows, width] = packed.shape;
  const cols = format === "q8" ? width : width * 2;
  if (packed.shape.length !== 2 || scales.dtype !== "f32" || numel(scales.shape) * 32 !== rows * cols) {
    throw new ModelLoadError(`${file}: tensor "${name}" is not a ${format} matrix with its scales`);
  }
  const bytes = new Uint8Array(packed.bytes.byteLength + scales.bytes.byteLength);
  bytes.set(packed.bytes);
  bytes.set(scales.bytes, packed.bytes.byteLength);
  return { name, dtype: format, shape: [rows, cols], bytes };
}

// One entry; `bytesOf` names the I8/U8 dtype a quantized matrix's packed weights must have.
function readEntry(
  name: string,
  entry: unknown,
  data: Uint8Array,
  file: string,
  bytesOf?: string,
): RawTensor {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const where = `${file}: tensor "${name}"`;
  if (typeof e !== "object" || e === null) throw new ModelLoadError(`${where} has no description`);
  const dtype: MatrixDType | undefined = bytesOf
    ? (e.dtype === bytesOf ? "q8" : undefined) // one byte per stored element
    : typeof e.dtype === "string"
    ? DTYPES[e.dtype]
    : undefined;
  if (!dtype) {
    throw new ModelLoadError(
      `${where} has unsupported dtype ${JSON.stringify(e.dtype)}: use F32, F16 or BF16`,
    );
  }
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ModelLoadError(`${where} has an invalid shape ${JSON.stringify(shape)}`);
  }
  const offsets = e.data_offsets;
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new ModelLoadError(`${where} has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [start, end] = offsets as [number, number];
  if (end > data.byteLength) {
    throw new ModelLoadError(
      `${where} ends at byte ${end}, past the end of the data (${data.byteLength} bytes)`,
    );
  }
  const expected = numel(shape) * dtypeBytes(dtype);
  if (end - start !== expected) {
    throw new ModelLoadError(
      `${where}: shape [${shape.join(", ")}] of ${e.dtype} needs ${expected} bytes but its offsets span ${
        end - start
      }`,
    );
  }
  return { name, dtype: bytesOf ? "q8" : dtype, shape, bytes: data.subarray(start, end) };
}

/** What a safetensors header says of one tensor (I8/U8: a quantized matrix's packed weights). */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: WeightDType | "i8" | "u8";
  readonly shape: readonly number[];
  /** Bytes of its data. */
  readonly byteLength: number;
}

/**
 * The first bytes of a safetensors file holding `tensors` in the order given: the header's length
 * and the header (padded to 8 bytes). Their data follows, back to back, in the same order; a
 * writer can stream it one tensor at a time.
 */
export function safetensorsHeader(
  tensors: Iterable<TensorEntry>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: NAMES[t.dtype], shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    offset += t.byteLength;
  }
  if (metadata) header.__metadata__ = metadata;
  const raw = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + Math.ceil(raw.byteLength / 8) * 8).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(out.byteLength - 8), true);
  out.set(raw, 8);
  return out;
}

/** Serializes tensors (in the order given) as a safetensors file. */
export function writeSafetensors(
  tensors: Iterable<RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = [...tensors];
  const head = safetensorsHeader(
    list.map((t) => {
      if (isQuantized(t.dtype)) throw new TypeError(`Write quantized "${t.name}" as its stored parts`);
      return { name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.bytes.byteLength };
    }),
    metadata,
  );
  const out = new Uint8Array(head.byteLength + list.reduce((n, t) => n + t.bytes.byteLength, 0));
  out.set(head);
  let at = head.byteLength;
  for (const t of list) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}
