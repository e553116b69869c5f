/**
 * A one-node ONNX model (MatMul of an input by a constant weight), encoded by hand
 * in protobuf wire format: the smallest thing onnxruntime-web can run to compare
 * its matmul against ours on the same shapes. Bench-only code.
 *
 * @module
 */

const enc = new TextEncoder();

function varint(n: number): Uint8Array {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Uint8Array.from(out);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A varint field. */
const int = (num: number, value: number) => concat([varint(num << 3), varint(value)]);
/** A length-delimited field (bytes, string or nested message). */
const bytes = (num: number, payload: Uint8Array) =>
  concat([varint((num << 3) | 2), varint(payload.length), payload]);
const str = (num: number, s: string) => bytes(num, enc.encode(s));

// ValueInfoProto { name, type: TypeProto { tensor_type { elem_type FLOAT, shape } } }
function valueInfo(name: string, dims: (number | string)[]): Uint8Array {
  const dimMsgs = concat(dims.map((d) => bytes(1, typeof d === "number" ? int(1, d) : str(2, d))));
  const tensorType = concat([int(1, 1), bytes(2, dimMsgs)]);
  return concat([str(1, name), bytes(2, bytes(1, tensorType))]);
}

/** ONNX bytes of y[T][rows] = x[T][cols] · wT, where `wT` is the `[cols][rows]` f32 weight. */
export function matmulModel(wT: Float32Array, cols: number, rows: number): Uint8Array {
  const tensor = concat([
    int(1, cols),
    int(1, rows),
    int(2, 1), // FLOAT
    str(8, "W"),
    bytes(9, new Uint8Array(wT.buffer, wT.byteOffset, wT.byteLength)),
  ]);
  const node = concat([str(1, "x"), str(1, "W"), str(2, "y"), str(4, "MatMul")]);
  const graph = concat([
    bytes(1, node),
    str(2, "matmul"),
    bytes(5, tensor),
    bytes(11, valueInfo("x", ["T", cols])),
    bytes(12, valueInfo("y", ["T", rows])),
  ]);
  const opset = concat([str(1, ""), int(2, 17)]);
  return concat([int(1, 8), str(2, "recurrent-edge bench"), bytes(7, graph), bytes(8, opset)]);
}
