import assert from "node:assert/strict";
import { crc32 } from "./crc32.ts";

// The definition, one bit at a time: the oracle for the table-driven version.
function crc32Bitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("crc32 matches the bitwise definition at every length and alignment, and continues across parts", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926, "the standard check value");
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
  for (let start = 0; start < 9; start++) {
    for (let end = start; end <= bytes.length; end += 7) {
      const part = bytes.subarray(start, end);
      assert.equal(crc32(part), crc32Bitwise(part), `bytes ${start}..${end}`);
    }
  }
  for (const cut of [0, 1, 8, 13, 299, 300]) {
    assert.equal(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut))), crc32(bytes), `split at ${cut}`);
  }
});
