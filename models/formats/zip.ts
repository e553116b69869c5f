import { ModelLoadError } from "../errors.ts";

/** One stored (uncompressed) file inside a zip archive. */
export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

/**
 * Lists the files of a zip archive held in memory (zip64 included). Only
 * stored entries are supported, which is what torch.save writes; a compressed
 * entry is refused.
 */
export function readZip(bytes: Uint8Array, file = "archive"): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ModelLoadError(`${file}: not a zip archive (no end-of-central-directory record)`);
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) {
      throw new ModelLoadError(`${file}: zip64 archive without a zip64 locator`);
    }
    const z64 = Number(view.getBigUint64(locator + 8, true));
    if (view.getUint32(z64, true) !== 0x06064b50) throw new ModelLoadError(`${file}: bad zip64 end record`);
    count = Number(view.getBigUint64(z64 + 32, true));
    cdOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  const entries = new Map<string, ZipEntry>();
  let at = cdOffset;
  const decoder = new TextDecoder();
  for (let n = 0; n < count; n++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) {
      throw new ModelLoadError(`${file}: central directory entry ${n} is damaged`);
    }
    const method = view.getUint16(at + 10, true);
    let size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let local = view.getUint32(at + 42, true);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field: sizes and offset that did not fit in 32 bits, in this order.
    let e = at + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let f = e + 4;
        if (view.getUint32(at + 24, true) === 0xffffffff) f += 8; // uncompressed size
        if (size === 0xffffffff) {
          size = Number(view.getBigUint64(f, true));
          f += 8;
        }
        if (local === 0xffffffff) local = Number(view.getBigUint64(f, true));
      }
      e += 4 + len;
    }
    if (method !== 0) throw new ModelLoadError(`${file}: entry ${name} is compressed (method ${method})`);
    if (view.getUint32(local, true) !== 0x04034b50) {
      throw new ModelLoadError(`${file}: entry ${name} is damaged`);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > bytes.length) throw new ModelLoadError(`${file}: entry ${name} runs past the end`);
    entries.set(name, { name, data: bytes.subarray(start, start + size) });
    at = extraEnd + commentLength;
  }
  return entries;
}
