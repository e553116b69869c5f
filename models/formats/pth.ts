/**
 * Reads an official PyTorch `.pth` checkpoint (a zip holding `data.pkl` and one
 * entry per storage) into tensors, without executing anything. {@linkcode listPth} reads only
 * the archive's directory and pickle: each tensor's bytes are read when asked for, so a
 * converter holds one tensor at a time, not the checkpoint.
 *
 * @module
 */

import { dtypeBytes, type WeightDType } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import { type ByteSource, bytesSource } from "./byte_source.ts";
import { readStateDictPickle, type TensorRef } from "./pickle.ts";
import { numel, type RawTensor } from "./tensor.ts";
import { readZipDirectory, type ZipEntryRef } from "./zip.ts";

/** A tensor of a `.pth` archive whose bytes have not been read yet. */
export interface PthTensor {
  readonly name: string;
  readonly dtype: WeightDType;
  readonly shape: readonly number[];
  /** `product(shape) * bytesPerElement`. */
  readonly byteLength: number;
  /** Reads the elements in row-major order of `shape` (strided views are gathered). */
  read(): Uint8Array;
}

/** The tensors of a torch state-dict archive held in memory, in the order the pickle lists them. */
export function readPth(bytes: Uint8Array, file = "checkpoint.pth"): RawTensor[] {
  return listPth(bytesSource(bytes), file).map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    bytes: t.read(),
  }));
}

/**
 * The tensors of a torch state-dict archive, in the order the pickle lists them, each read on
 * demand from `src`. Every tensor's extent is checked against its storage here, before any read.
 */
export function listPth(src: ByteSource, file = "checkpoint.pth"): PthTensor[] {
  const entries = readZipDirectory(src, file);
  const pkl = [...entries.keys()].find((n) => n.endsWith("/data.pkl") || n === "data.pkl");
  if (!pkl) throw new ModelLoadError(`${file}: no data.pkl inside: not a torch.save archive`);
  const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
  const pickle = entries.get(pkl)!;
  const refs = readStateDictPickle(src.read(pickle.offset, pickle.size));
  return [...refs].map(([name, ref]) => {
    const storage = entries.get(`${prefix}data/${ref.storage.key}`);
    if (!storage) throw new ModelLoadError(`${file}: tensor "${name}" refers to a missing storage`);
    return pthTensor(src, name, ref, storage, file);
  });
}

function pthTensor(
  src: ByteSource,
  name: string,
  ref: TensorRef,
  storage: ZipEntryRef,
  file: string,
): PthTensor {
  const size = dtypeBytes(ref.storage.dtype);
  const n = numel(ref.shape);
  if (ref.stride.length !== ref.shape.length || ref.offset < 0 || ref.stride.some((s) => s < 0)) {
    throw new ModelLoadError(`${file}: tensor "${name}" has an invalid view of its storage`);
  }
  // The last element the view touches (a view of no elements touches none).
  const last = n === 0
    ? ref.offset - 1
    : ref.shape.reduce((at, d, i) => at + (d - 1) * ref.stride[i], ref.offset);
  if ((last + 1) * size > storage.size) {
    throw new ModelLoadError(`${file}: tensor "${name}" reads past the end of its storage`);
  }
  const contiguous = ref.shape.every((_, d) =>
    ref.shape[d] === 1 || ref.stride[d] === ref.shape.slice(d + 1).reduce((a, b) => a * b, 1)
  );
  return {
    name,
    dtype: ref.storage.dtype,
    shape: ref.shape,
    byteLength: n * size,
    read() {
      if (n === 0) return new Uint8Array(0);
      const from = storage.offset + ref.offset * size;
      if (contiguous) return src.read(from, n * size);
      return gather(src.read(from, (last - ref.offset + 1) * size), ref, size, n);
    },
  };
}

/** The elements of a strided view, in row-major order of its shape; `span` starts at its offset. */
function gather(span: Uint8Array, ref: TensorRef, size: number, n: number): Uint8Array {
  const out = new Uint8Array(n * size);
  const index = new Array(ref.shape.length).fill(0);
  for (let e = 0; e < n; e++) {
    let at = 0;
    for (let d = 0; d < index.length; d++) at += index[d] * ref.stride[d];
    out.set(span.subarray(at * size, at * size + size), e * size);
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d] < ref.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}
