/**
 * Random access to the bytes of a file, so a reader takes only the parts it needs: a checkpoint
 * on disk is read piece by piece instead of held whole. Runtime-neutral: the file-backed source
 * lives with the caller that can open files.
 *
 * @module
 */

/** Bytes that can be read at any offset. */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /**
   * `length` bytes from `offset` (a view or a fresh copy: do not mutate it). Throws a RangeError
   * past the end.
   */
  read(offset: number, length: number): Uint8Array;
}

/** A source over bytes already in memory (reads are views, nothing is copied). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.byteLength) {
        throw new RangeError(`read of ${length} bytes at ${offset} is past the end (${bytes.byteLength})`);
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}
