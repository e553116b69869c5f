/**
 * Writes torch.save-shaped archives for tests: a stored zip with `archive/data.pkl` (a protocol-2
 * pickle of an OrderedDict of `_rebuild_tensor_v2` calls) and one entry per storage, which is
 * what PyTorch writes. Views (offset, strides) let a test check strided tensors.
 *
 * @module
 */

import type { WeightDType } from "../../kernels/mod.ts";

/** One tensor to pickle: a view into storage `key`. */
export interface PthView {
  readonly name: string;
  /** Storage entry this tensor views. */
  readonly key: string;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

/** One storage: its element type and raw little-endian bytes. */
export interface PthStorage {
  readonly dtype: WeightDType;
  readonly bytes: Uint8Array;
}

const STORAGE_TYPES: Record<WeightDType, string> = {
  f32: "FloatStorage",
  f16: "HalfStorage",
  bf16: "BFloat16Storage",
};
const WIDTH: Record<WeightDType, number> = { f32: 4, f16: 2, bf16: 2 };

/** The pickle of a state dict of `views` over `storages`. */
export function statePickle(
  views: readonly PthView[],
  storages: ReadonlyMap<string, PthStorage>,
): Uint8Array {
  const out: number[] = [0x80, 2];
  const ascii = (s: string) => out.push(...new TextEncoder().encode(s));
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    out.push(0x58, b.length & 255, (b.length >> 8) & 255, 0, 0, ...b);
  };
  const int = (n: number) => {
    out.push(0x4a);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    out.push(...b);
  };
  const global = (module: string, name: string) => (out.push(0x63), ascii(`${module}\n${name}\n`));
  const tuple = (items: readonly number[]) => (out.push(0x28), items.forEach(int), out.push(0x74));
  global("collections", "OrderedDict");
  out.push(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  for (const v of views) {
    const storage = storages.get(v.key)!;
    str(v.name);
    global("torch._utils", "_rebuild_tensor_v2");
    out.push(0x28); // MARK: the arguments
    out.push(0x28); // MARK: the persistent id
    str("storage");
    global("torch", STORAGE_TYPES[storage.dtype]);
    str(v.key);
    str("cpu");
    int(storage.bytes.length / WIDTH[storage.dtype]);
    out.push(0x74, 0x51); // TUPLE, BINPERSID
    int(v.offset);
    tuple(v.shape);
    tuple(v.stride);
    out.push(0x89); // requires_grad False
    global("collections", "OrderedDict");
    out.push(0x29, 0x52); // backward hooks: OrderedDict()
    out.push(0x74, 0x52, 0x73); // TUPLE, REDUCE, SETITEM
  }
  out.push(0x2e);
  return new Uint8Array(out);
}

/** Writes a torch.save-shaped archive to `path`, streaming each storage (no whole-file buffer). */
export async function writePth(
  path: string,
  views: readonly PthView[],
  storages: ReadonlyMap<string, PthStorage>,
): Promise<void> {
  const files: [string, Uint8Array][] = [["archive/data.pkl", statePickle(views, storages)]];
  for (const [key, s] of storages) files.push([`archive/data/${key}`, s.bytes]);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const central: Uint8Array[] = [];
  let at = 0;
  const put = async (b: Uint8Array) => {
    for (let w = 0; w < b.length;) w += await file.write(b.subarray(w));
    at += b.length;
  };
  for (const [name, data] of files) {
    const n = new TextEncoder().encode(name);
    const local = new Uint8Array(30 + n.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    const cd = new Uint8Array(46 + n.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, at, true);
    cd.set(n, 46);
    central.push(cd);
    await put(local);
    await put(data);
  }
  const cdStart = at;
  for (const cd of central) await put(cd);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, at - cdStart, true);
  ev.setUint32(16, cdStart, true);
  await put(end);
  file.close();
}
