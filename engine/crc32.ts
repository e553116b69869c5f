/**
 * CRC-32 (IEEE 802.3, as zip and PNG use), slice-by-8: eight table lookups per eight bytes
 * instead of a dependent lookup per byte.
 *
 * @module
 */

// TABLES[k][n]: the CRC of byte n followed by k zero bytes; TABLES[0] is the classic byte table.
const TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k][n] = (t[0][t[k - 1][n] & 0xff] ^ (t[k - 1][n] >>> 8)) >>> 0;
  }
  return t;
})();

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** CRC-32 of `bytes`; pass the CRC of what came before as `previous` to continue it over several parts. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = (previous ^ 0xffffffff) >>> 0;
  let i = 0;
  // Bytes up to a 4-byte boundary one at a time, then whole words (little-endian hosts) eight bytes a step.
  const head = Math.min(bytes.length, (4 - (bytes.byteOffset % 4)) % 4);
  for (; i < head; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  if (LITTLE_ENDIAN && (bytes.byteOffset + i) % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + i, (bytes.length - i) >>> 3 << 1);
    for (let w = 0; w < words.length; w += 2) {
      const lo = c ^ words[w], hi = words[w + 1];
      c = t7[lo & 0xff] ^ t6[(lo >>> 8) & 0xff] ^ t5[(lo >>> 16) & 0xff] ^ t4[lo >>> 24] ^
        t3[hi & 0xff] ^ t2[(hi >>> 8) & 0xff] ^ t1[(hi >>> 16) & 0xff] ^ t0[hi >>> 24];
    }
    i += words.length * 4;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
