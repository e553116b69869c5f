#include "common.h"

// ---- matvec: y[rows] = W[rows][cols] x[cols] -----------------------------------------
// One row at a time, four independent accumulators (the add latency is hidden, the weight
// stream is one sequential read). Columns past the last whole vector go through load_part.

__attribute__((export_name("matvec_f32"))) void matvec_f32(const float *w, const float *x, float *y, int rows,
                                                           int cols) {
  for (int r = 0; r < rows; r++) {
    const float *row = w + (long)r * cols;
    v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
    int c = 0;
    for (; c + 16 <= cols; c += 16) {
      FMA(a0, wasm_v128_load(row + c), wasm_v128_load(x + c));
      FMA(a1, wasm_v128_load(row + c + 4), wasm_v128_load(x + c + 4));
      FMA(a2, wasm_v128_load(row + c + 8), wasm_v128_load(x + c + 8));
      FMA(a3, wasm_v128_load(row + c + 12), wasm_v128_load(x + c + 12));
    }
    for (; c + 8 <= cols; c += 8) {
      FMA(a0, wasm_v128_load(row + c), wasm_v128_load(x + c));
      FMA(a1, wasm_v128_load(row + c + 4), wasm_v128_load(x + c + 4));
    }
    if (c + 4 <= cols) {
      FMA(a2, wasm_v128_load(row + c), wasm_v128_load(x + c));
      c += 4;
    }
    if (c < cols) FMA(a3, load_part(row + c, cols - c), load_part(x + c, cols - c));
    y[r] = hsum(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)));
  }
}

// 16-bit weights: eight halves loaded as four 32-bit lanes hold the even-indexed elements in
// their low halves and the odd-indexed ones in their high halves. Widening them in that
// split order takes only shifts and masks (no shuffles); x is permuted once per call into
// `xp` ([even 4][odd 4] per 8 columns) so the dot product is unchanged. The last cols % 8
// columns (all of them when cols < 8) are widened one at a time and multiplied with x itself.

static void permute_x(const float *x, float *xp, int cols) {
  for (int c = 0; c + 8 <= cols; c += 8) {
    for (int j = 0; j < 4; j++) {
      xp[c + j] = x[c + 2 * j];
      xp[c + 4 + j] = x[c + 2 * j + 1];
    }
  }
}

#define MATVEC16(NAME, EVEN, ODD, ONE)                                                                   \
  __attribute__((export_name(#NAME))) void NAME(const u16 *w, const float *x, float *y, int rows, int cols, \
                                                float *xp) {                                             \
    permute_x(x, xp, cols);                                                                              \
    for (int r = 0; r < rows; r++) {                                                                     \
      const u16 *row = w + (long)r * cols;                                                               \
      v128_t a[8];                                                                                       \
      for (int i = 0; i < 8; i++) a[i] = wasm_f32x4_splat(0);                                            \
      int c = 0;                                                                                         \
      for (; c + 32 <= cols; c += 32) {                                                                  \
        for (int i = 0; i < 4; i++) {                                                                    \
          v128_t h = wasm_v128_load(row + c + 8 * i);                                                    \
          FMA(a[2 * i], EVEN(h), wasm_v128_load(xp + c + 8 * i));                                        \
          FMA(a[2 * i + 1], ODD(h), wasm_v128_load(xp + c + 8 * i + 4));                                 \
        }                                                                                                \
      }                                                                                                  \
      for (; c + 8 <= cols; c += 8) {                                                                    \
        v128_t h0 = wasm_v128_load(row + c);                                                             \
        FMA(a[0], EVEN(h0), wasm_v128_load(xp + c));                                                     \
        FMA(a[1], ODD(h0), wasm_v128_load(xp + c + 4));                                                  \
      }                                                                                                  \
      float tail = 0.0f;                                                                                 \
      for (; c < cols; c++) tail += ONE(row[c]) * x[c];                                                  \
      for (int i = 1; i < 8; i++) a[0] = wasm_f32x4_add(a[0], a[i]);                                     \
      y[r] = hsum(a[0]) + tail;                                                                          \
    }                                                                                                    \
  }

MATVEC16(matvec_f16, f16_even, f16_odd, f16_one)
MATVEC16(matvec_bf16, bf16_even, bf16_odd, bf16_one)
