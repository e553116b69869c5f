/**
 * Reads an official PyTorch `.pth` checkpoint (a zip holding `data.pkl` and one
 * entry per storage) into tensors, without executing anything.
 *
 * @module
 */

import { dtypeBytes } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import { readStateDictPickle } from "./pickle.ts";
import { numel, type RawTensor } from "./tensor.ts";
import { readZip } from "./zip.ts";

/** The tensors of a torch state-dict archive, in the order the pickle lists them. */
export function readPth(bytes: Uint8Array, file = "checkpoint.pth"): RawTensor[] {
  const entries = readZip(bytes, file);
  const pkl = [...entries.keys()].find((n) => n.endsWith("/data.pkl") || n === "data.pkl");
  if (!pkl) throw new ModelLoadError(`${file}: no data.pkl inside: not a torch.save archive`);
  const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
  const refs = readStateDictPickle(entries.get(pkl)!.data);
  const out: RawTensor[] = [];
  for (const [name, ref] of refs) {
    const storage = entries.get(`${prefix}data/${ref.storage.key}`);
    if (!storage) throw new ModelLoadError(`${file}: tensor "${name}" refers to a missing storage`);
    const size = dtypeBytes(ref.storage.dtype);
    const n = numel(ref.shape);
    const out8 = new Uint8Array(n * size);
    // Gather element by element in row-major order of `shape`, following `stride`.
    const index = new Array(ref.shape.length).fill(0);
    for (let e = 0; e < n; e++) {
      let src = ref.offset;
      for (let d = 0; d < index.length; d++) src += index[d] * ref.stride[d];
      if ((src + 1) * size > storage.data.length) {
        throw new ModelLoadError(`${file}: tensor "${name}" reads past the end of its storage`);
      }
      out8.set(storage.data.subarray(src * size, src * size + size), e * size);
      for (let d = index.length - 1; d >= 0; d--) {
        if (++index[d] < ref.shape[d]) break;
        index[d] = 0;
      }
    }
    out.push({ name, dtype: ref.storage.dtype, shape: ref.shape, bytes: out8 });
  }
  return out;
}
