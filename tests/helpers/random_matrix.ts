// Seeded random weights for kernel tests: f32 in [-1, 1); bf16 the top half of those; f16 random
// halves below 256 (subnormals included), either sign.
import type { MatrixSource, WeightDType } from "../../kernels/mod.ts";

/** A `rows` × `cols` matrix of `dtype` drawn from `rand`. */
export function randomMatrix(
  rows: number,
  cols: number,
  dtype: WeightDType,
  rand: () => number,
): MatrixSource {
  const f32 = new Float32Array(rows * cols).map(() => rand() * 2 - 1);
  if (dtype === "f32") return { rows, cols, dtype, bytes: new Uint8Array(f32.buffer) };
  const bits = new Uint16Array(rows * cols);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < bits.length; i++) {
    bits[i] = dtype === "bf16" ? u32[i] >>> 16 : (Math.floor(rand() * 0x5c00) | (rand() < 0.5 ? 0x8000 : 0));
  }
  return { rows, cols, dtype, bytes: new Uint8Array(bits.buffer) };
}
