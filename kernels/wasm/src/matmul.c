#include "common.h"

// ---- matmul: Y[t][rows] = X[t][cols] W[rows][cols]^T ---------------------------------
// Tiles of 4 weight rows x 2 tokens; the 4 rows (widened to f32 in `wbuf`) stay in cache
// while every token streams past them, so each weight byte is read from memory once. A last
// tile with fewer rows runs on zero rows in `wbuf`, a last odd token in a 4 x 1 tile; the last
// cols % 4 columns are added afterwards, one at a time, so the tile's loop stays as it is.
// Every (row, token) sum is one accumulator over the columns in order, whatever the tile: a
// token's result does not depend on how many tokens share the call (batched = alone, exactly).

// Columns [0, cols & ~3) only (rows are `cols` apart); matmul_rows adds the last cols % 4.
static void tile_4x2(const float *w, int cols, const float *x0, const float *x1, float *out0, float *out1,
                     int rows_here) {
  v128_t acc[8];
  for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);
  int whole = cols & ~3;
  for (int c = 0; c < whole; c += 4) {
    v128_t xa = wasm_v128_load(x0 + c), xb = wasm_v128_load(x1 + c);
    v128_t w0 = wasm_v128_load(w + c), w1 = wasm_v128_load(w + cols + c);
    v128_t w2 = wasm_v128_load(w + 2 * cols + c), w3 = wasm_v128_load(w + 3 * cols + c);
    FMA(acc[0], w0, xa);
    FMA(acc[1], w1, xa);
    FMA(acc[2], w2, xa);
    FMA(acc[3], w3, xa);
    FMA(acc[4], w0, xb);
    FMA(acc[5], w1, xb);
    FMA(acc[6], w2, xb);
    FMA(acc[7], w3, xb);
  }
  for (int i = 0; i < rows_here; i++) {
    out0[i] = hsum(acc[i]);
    out1[i] = hsum(acc[4 + i]);
  }
}

// The 4 x 1 tile: the same sums as tile_4x2's for one token.
static void tile_4x1(const float *w, int cols, const float *x0, float *out0, int rows_here) {
  v128_t acc[4];
  for (int i = 0; i < 4; i++) acc[i] = wasm_f32x4_splat(0);
  int whole = cols & ~3;
  for (int c = 0; c < whole; c += 4) {
    v128_t xa = wasm_v128_load(x0 + c);
    FMA(acc[0], wasm_v128_load(w + c), xa);
    FMA(acc[1], wasm_v128_load(w + cols + c), xa);
    FMA(acc[2], wasm_v128_load(w + 2 * cols + c), xa);
    FMA(acc[3], wasm_v128_load(w + 3 * cols + c), xa);
  }
  for (int i = 0; i < rows_here; i++) out0[i] = hsum(acc[i]);
}

// wbuf: 4 * cols floats of scratch owned by the caller. ystride: floats between tokens' rows of y
// (rows, unless the caller splits the rows between threads).
static void matmul_rows(const float *w4, const float *x, float *y, int r, int rows, int cols, int tokens,
                        int ystride) {
  int here = rows - r < 4 ? rows - r : 4;
  int t = 0;
  for (; t + 2 <= tokens; t += 2)
    tile_4x2(w4, cols, x + (long)t * cols, x + (long)(t + 1) * cols, y + (long)t * ystride + r,
             y + (long)(t + 1) * ystride + r, here);
  if (t < tokens) tile_4x1(w4, cols, x + (long)t * cols, y + (long)t * ystride + r, here);
  for (int c = cols & ~3; c < cols; c++) {
    for (t = 0; t < tokens; t++) {
      float xc = x[(long)t * cols + c];
      for (int i = 0; i < here; i++) y[(long)t * ystride + r + i] += w4[(long)i * cols + c] * xc;
    }
  }
}

// ---- one token: 8 rows at a time, straight from the weights ---------------------------
// Decode's case. The 4 x 1 tile over `wbuf` keeps only 4 FMA chains in flight and widens each
// 16-bit row through memory; here 8 rows are read in place (16-bit ones widened in registers),
// so 8 chains hide the FMA latency. Each (row, token) sum is still one accumulator over the
// columns in order, then the last cols % 4 columns one at a time: the exact sums of the tiles
// above, so a token's result is the same whether it is decoded alone or among others.

static void row8_f32(const float *w, int cols, const float *x, float *out) {
  v128_t acc[8];
  for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);
  int whole = cols & ~3;
  for (int c = 0; c < whole; c += 4) {
    v128_t xa = wasm_v128_load(x + c);
    for (int i = 0; i < 8; i++) FMA(acc[i], wasm_v128_load(w + (long)i * cols + c), xa);
  }
  for (int i = 0; i < 8; i++) out[i] = hsum(acc[i]);
  for (int c = whole; c < cols; c++) {
    for (int i = 0; i < 8; i++) out[i] += w[(long)i * cols + c] * x[c];
  }
}

#define ROW8_16(NAME, LO, HI, ONE)                                                                     \
  static void NAME(const u16 *w, int cols, const float *x, float *out) {                               \
    v128_t acc[8];                                                                                     \
    for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);                                          \
    int whole = cols & ~3, c = 0;                                                                      \
    for (; c + 8 <= whole; c += 8) {                                                                   \
      v128_t xa = wasm_v128_load(x + c), xb = wasm_v128_load(x + c + 4);                               \
      for (int i = 0; i < 8; i++) {                                                                    \
        v128_t h = wasm_v128_load(w + (long)i * cols + c);                                             \
        FMA(acc[i], LO(h), xa);                                                                        \
        FMA(acc[i], HI(h), xb);                                                                        \
      }                                                                                                \
    }                                                                                                  \
    if (c < whole) {                                                                                   \
      v128_t xa = wasm_v128_load(x + c);                                                               \
      for (int i = 0; i < 8; i++) FMA(acc[i], LO(wasm_v128_load64_zero(w + (long)i * cols + c)), xa);  \
    }                                                                                                  \
    for (int i = 0; i < 8; i++) out[i] = hsum(acc[i]);                                                 \
    for (c = whole; c < cols; c++) {                                                                   \
      for (int i = 0; i < 8; i++) out[i] += ONE(w[(long)i * cols + c]) * x[c];                         \
    }                                                                                                  \
  }

ROW8_16(row8_f16, f16_lo, f16_hi, f16_one)
ROW8_16(row8_bf16, bf16_lo, bf16_hi, bf16_one)

__attribute__((export_name("matmul_f32"))) void matmul_f32(const float *w, const float *x, float *y, int rows,
                                                           int cols, int tokens, float *wbuf, int ystride) {
  int r = 0;
  if (tokens == 1) {
    for (; r + 8 <= rows; r += 8) row8_f32(w + (long)r * cols, cols, x, y + r);
  }
  for (; r < rows; r += 4) {
    int here = rows - r < 4 ? rows - r : 4;
    const float *src = w + (long)r * cols;
    if (here < 4) {
      for (int i = 0; i < 4 * cols; i++) wbuf[i] = i < here * cols ? src[i] : 0.0f;
      src = wbuf;
    }
    matmul_rows(src, x, y, r, rows, cols, tokens, ystride);
  }
}

// 16-bit weights: the tile's rows are widened into `wbuf` (contiguous, here * cols values) eight at a
// time, the last (here * cols) % 8 one at a time; the rows a last tile lacks are zeros.
#define MATMUL16(NAME, ROW8, LO, HI, ONE)                                                              \
  __attribute__((export_name(#NAME))) void NAME(const u16 *w, const float *x, float *y, int rows, int cols, \
                                                int tokens, float *wbuf, int ystride) {                \
    int r = 0;                                                                                         \
    if (tokens == 1) {                                                                                 \
      for (; r + 8 <= rows; r += 8) ROW8(w + (long)r * cols, cols, x, y + r);                          \
    }                                                                                                  \
    for (; r < rows; r += 4) {                                                                         \
      int here = rows - r < 4 ? rows - r : 4;                                                          \
      const u16 *src = w + (long)r * cols;                                                             \
      int i = 0;                                                                                       \
      for (; i + 8 <= here * cols; i += 8) {                                                           \
        v128_t h = wasm_v128_load(src + i);                                                            \
        wasm_v128_store(wbuf + i, LO(h));                                                              \
        wasm_v128_store(wbuf + i + 4, HI(h));                                                          \
      }                                                                                                \
      for (; i < here * cols; i++) wbuf[i] = ONE(src[i]);                                              \
      for (; i < 4 * cols; i++) wbuf[i] = 0.0f;                                                        \
      matmul_rows(wbuf, x, y, r, rows, cols, tokens, ystride);                                         \
    }                                                                                                  \
  }

MATMUL16(matmul_f16, row8_f16, f16_lo, f16_hi, f16_one)
MATMUL16(matmul_bf16, row8_bf16, bf16_lo, bf16_hi, bf16_one)
