import { ModelLoadError } from "../errors.ts";
import { type ByteSource, bytesSource } from "./byte_source.ts";

/** One stored (uncompressed) file inside a zip archive: where its bytes are. */
export interface ZipEntryRef {
  readonly name: string;
  /** Offset of the entry's first byte in the archive. */
  readonly offset: number;
  /** Length in bytes. */
  readonly size: number;
}

/** One stored (uncompressed) file inside a zip archive. */
export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

/** The files of a zip archive held in memory (views into `bytes`). */
export function readZip(bytes: Uint8Array, file = "archive"): Map<string, ZipEntry> {
  const entries = new Map<string, ZipEntry>();
  for (const [name, e] of readZipDirectory(bytesSource(bytes), file)) {
    entries.set(name, { name, data: bytes.subarray(e.offset, e.offset + e.size) });
  }
  return entries;
}

/**
 * Lists the files of a zip archive (zip64 included) and where each one's bytes lie, reading only
 * the end records, the central directory and each entry's local header. Only stored entries are
 * supported, which is what torch.save writes; a compressed entry is refused.
 */
export function readZipDirectory(src: ByteSource, file = "archive"): Map<string, ZipEntryRef> {
  const tailStart = Math.max(0, src.size - 22 - 65535);
  const tail = src.read(tailStart, src.size - tailStart);
  const tailView = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tailView.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ModelLoadError(`${file}: not a zip archive (no end-of-central-directory record)`);
  let count = tailView.getUint16(eocd + 10, true);
  let cdOffset = tailView.getUint32(eocd + 16, true);
  let cdSize = tailView.getUint32(eocd + 12, true);
  if (cdOffset === 0xffffffff || count === 0xffff || cdSize === 0xffffffff) {
    const locator = tailStart + eocd - 20;
    const loc = locator >= 0 ? view(src, locator, 20) : undefined;
    if (!loc || loc.getUint32(0, true) !== 0x07064b50) {
      throw new ModelLoadError(`${file}: zip64 archive without a zip64 locator`);
    }
    const z64at = Number(loc.getBigUint64(8, true));
    const z64 = z64at + 56 <= src.size ? view(src, z64at, 56) : undefined;
    if (!z64 || z64.getUint32(0, true) !== 0x06064b50) {
      throw new ModelLoadError(`${file}: bad zip64 end record`);
    }
    count = Number(z64.getBigUint64(32, true));
    cdSize = Number(z64.getBigUint64(40, true));
    cdOffset = Number(z64.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > src.size) {
    throw new ModelLoadError(`${file}: the central directory runs past the end`);
  }
  const cd = src.read(cdOffset, cdSize);
  const cdView = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries = new Map<string, ZipEntryRef>();
  let at = 0;
  const decoder = new TextDecoder();
  for (let n = 0; n < count; n++) {
    if (at + 46 > cd.length || cdView.getUint32(at, true) !== 0x02014b50) {
      throw new ModelLoadError(`${file}: central directory entry ${n} is damaged`);
    }
    const method = cdView.getUint16(at + 10, true);
    let size = cdView.getUint32(at + 20, true);
    const nameLength = cdView.getUint16(at + 28, true);
    const extraLength = cdView.getUint16(at + 30, true);
    const commentLength = cdView.getUint16(at + 32, true);
    let local = cdView.getUint32(at + 42, true);
    const name = decoder.decode(cd.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field: sizes and offset that did not fit in 32 bits, in this order.
    let e = at + 46 + nameLength;
    const extraEnd = Math.min(e + extraLength, cd.length);
    while (e + 4 <= extraEnd) {
      const id = cdView.getUint16(e, true);
      const len = cdView.getUint16(e + 2, true);
      if (id === 0x0001) {
        let f = e + 4;
        if (cdView.getUint32(at + 24, true) === 0xffffffff) f += 8; // uncompressed size
        if (size === 0xffffffff) {
          size = Number(cdView.getBigUint64(f, true));
          f += 8;
        }
        if (local === 0xffffffff) local = Number(cdView.getBigUint64(f, true));
      }
      e += 4 + len;
    }
    if (method !== 0) throw new ModelLoadError(`${file}: entry ${name} is compressed (method ${method})`);
    const header = local + 30 <= src.size ? view(src, local, 30) : undefined;
    if (!header || header.getUint32(0, true) !== 0x04034b50) {
      throw new ModelLoadError(`${file}: entry ${name} is damaged`);
    }
    const start = local + 30 + header.getUint16(26, true) + header.getUint16(28, true);
    if (start + size > src.size) throw new ModelLoadError(`${file}: entry ${name} runs past the end`);
    entries.set(name, { name, offset: start, size });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function view(src: ByteSource, offset: number, length: number): DataView {
  const b = src.read(offset, length);
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
