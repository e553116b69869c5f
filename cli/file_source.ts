/**
 * A {@linkcode ByteSource} over a file on disk: each read seeks and reads just that range, so a
 * checkpoint many times larger than memory can be read piece by piece.
 *
 * @module
 */

import type { ByteSource } from "../models/formats/byte_source.ts";

/** An open file as a byte source; close it when done. */
export interface FileSource extends ByteSource, Disposable {
  close(): void;
}

/** Opens `path` for random-access reads (throws Deno.errors.NotFound if it is missing). */
export function openFileSource(path: string): FileSource {
  const file = Deno.openSync(path, { read: true });
  const size = file.statSync().size;
  const close = () => file.close();
  return {
    size,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > size) {
        throw new RangeError(`read of ${length} bytes at ${offset} is past the end of ${path} (${size})`);
      }
      const out = new Uint8Array(length);
      file.seekSync(offset, Deno.SeekMode.Start);
      for (let got = 0; got < length;) {
        const n = file.readSync(out.subarray(got));
        if (n === null) throw new RangeError(`${path} ended at ${offset + got} bytes, expected ${size}`);
        got += n;
      }
      return out;
    },
    close,
    [Symbol.dispose]: close,
  };
}
