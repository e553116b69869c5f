// The safetensors reader refuses malformed headers with a ModelLoadError naming the tensor.
import assert from "node:assert/strict";
import { ModelLoadError, parseSafetensors, writeSafetensors } from "../models/mod.ts";

function fileWithHeader(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function assertLoadError(bytes: Uint8Array, pattern: RegExp) {
  assert.throws(() => parseSafetensors(bytes, "w.safetensors"), (err: unknown) => {
    assert.ok(err instanceof ModelLoadError, `expected ModelLoadError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("writeSafetensors output reads back with dtypes, shapes and bytes intact", () => {
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Uint16Array([0x3f80, 0x4000, 0xbf80]);
  const file = writeSafetensors([
    { name: "a", dtype: "f32", shape: [2, 3], bytes: new Uint8Array(a.buffer) },
    { name: "b.weight", dtype: "bf16", shape: [3], bytes: new Uint8Array(b.buffer) },
  ], { format: "pt" });
  const t = parseSafetensors(file);
  assert.deepEqual(t.get("a")!.shape, [2, 3]);
  assert.deepEqual([...new Float32Array(t.get("a")!.bytes.slice().buffer)], [1, 2, 3, 4, 5, 6]);
  assert.equal(t.get("b.weight")!.dtype, "bf16");
  assert.deepEqual([...new Uint16Array(t.get("b.weight")!.bytes.slice().buffer)], [0x3f80, 0x4000, 0xbf80]);
});

Deno.test("an unknown dtype names the tensor", () => {
  assertLoadError(
    fileWithHeader({ "blocks.0.att.w0": { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8),
    /tensor "blocks\.0\.att\.w0" has unsupported dtype "I64"/,
  );
});

Deno.test("offsets past the end of the data name the tensor", () => {
  assertLoadError(
    fileWithHeader({ "emb.weight": { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8),
    /tensor "emb\.weight" ends at byte 16, past the end/,
  );
});

Deno.test("a shape that does not match the byte range names the tensor", () => {
  assertLoadError(
    fileWithHeader({ "head.weight": { dtype: "BF16", shape: [2, 3], data_offsets: [0, 8] } }, 8),
    /tensor "head\.weight": shape \[2, 3\] of BF16 needs 12 bytes but its offsets span 8/,
  );
});

Deno.test("a header length past the end of the file is refused", () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
  assertLoadError(bytes, /header length 1000 runs past the end/);
});

Deno.test("a header that is not JSON is refused", () => {
  const bytes = new Uint8Array(12);
  new DataView(bytes.buffer).setBigUint64(0, 4n, true);
  bytes.set([0x7b, 0x7b, 0x7b, 0x7b], 8);
  assertLoadError(bytes, /header is not valid JSON/);
});
