#include "common.h"

// ---- matmul: Y[t][rows] = X[t][cols] W[rows][cols]^T ---------------------------------
// Tiles of 4 weight rows x 2 tokens; the 4 rows (16-bit ones widened to f32 in `wbuf`) stay in
// cache while every token streams past them, so each weight byte is read from memory once. A
// last tile with fewer rows runs on zero rows in `wbuf`, a last odd token in a 4 x 1 tile. One
// token (decode) takes its own path, 8 rows at a time straight from the weights.
//
// Every (row, token) sum is one accumulator over the columns in a fixed order, whatever the path:
// a token's result does not depend on how many tokens share the call (batched = alone, exactly).
// f32 weights: 4-column vectors in order over the first cols & ~3 columns, then the rest one at
// a time. 16-bit weights: per 8-column group, the even columns' vector then the odd columns'
// (widening a loaded group that way takes a shift and a mask, no shuffle), over the first
// cols & ~7 columns, then the rest one at a time. For that, `x` arrives with each whole 8-column
// group of each token permuted to [x0 x2 x4 x6 x1 x3 x5 x7] (permute8 below; the caller permutes
// before and restores after), the tail columns untouched.

// Columns [0, whole): matmul_rows adds the rest. w rows are `cols` apart.
static void tile_4x2(const float *w, int cols, int whole, const float *x0, const float *x1, float *out0,
                     float *out1, int rows_here) {
  v128_t acc[8];
  for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);
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
static void tile_4x1(const float *w, int cols, int whole, const float *x0, float *out0, int rows_here) {
  v128_t acc[4];
  for (int i = 0; i < 4; i++) acc[i] = wasm_f32x4_splat(0);
  for (int c = 0; c < whole; c += 4) {
    v128_t xa = wasm_v128_load(x0 + c);
    FMA(acc[0], wasm_v128_load(w + c), xa);
    FMA(acc[1], wasm_v128_load(w + cols + c), xa);
    FMA(acc[2], wasm_v128_load(w + 2 * cols + c), xa);
    FMA(acc[3], wasm_v128_load(w + 3 * cols + c), xa);
  }
  for (int i = 0; i < rows_here; i++) out0[i] = hsum(acc[i]);
}

// Rows r .. r+3 of y from the 4 f32 rows at w4 (the vector part over [0, whole), then the tail).
// ystride: floats between tokens' rows of y (rows, unless the caller splits rows between threads).
static void matmul_rows(const float *w4, const float *x, float *y, int r, int rows, int cols, int whole,
                        int tokens, int ystride) {
  int here = rows - r < 4 ? rows - r : 4;
  int t = 0;
  for (; t + 2 <= tokens; t += 2)
    tile_4x2(w4, cols, whole, x + (long)t * cols, x + (long)(t + 1) * cols, y + (long)t * ystride + r,
             y + (long)(t + 1) * ystride + r, here);
  if (t < tokens) tile_4x1(w4, cols, whole, x + (long)t * cols, y + (long)t * ystride + r, here);
  for (int c = whole; c < cols; c++) {
    for (t = 0; t < tokens; t++) {
      float xc = x[(long)t * cols + c];
      for (int i = 0; i < here; i++) y[(long)t * ystride + r + i] += w4[(long)i * cols + c] * xc;
    }
  }
}

// ---- one token, f32: 8 rows at a time in place (8 FMA chains hide the latency) -----------

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
    matmul_rows(src, x, y, r, rows, cols, cols & ~3, tokens, ystride);
  }
}

// ---- 16-bit weights (widened by common.h's even/odd helpers) ---------------------------

// In place, each whole 8-column group of each of `tokens` rows of x: [x0..x7] becomes
// [x0 x2 x4 x6 x1 x3 x5 x7] (inverse = 0) or back (inverse = 1).
__attribute__((export_name("permute8"))) void permute8(float *x, int tokens, int cols, int inverse) {
  for (int t = 0; t < tokens; t++) {
    float *row = x + (long)t * cols;
    for (int c = 0; c + 8 <= cols; c += 8) {
      v128_t a = wasm_v128_load(row + c), b = wasm_v128_load(row + c + 4);
      v128_t lo = inverse ? wasm_i32x4_shuffle(a, b, 0, 4, 1, 5) : wasm_i32x4_shuffle(a, b, 0, 2, 4, 6);
      v128_t hi = inverse ? wasm_i32x4_shuffle(a, b, 2, 6, 3, 7) : wasm_i32x4_shuffle(a, b, 1, 3, 5, 7);
      wasm_v128_store(row + c, lo);
      wasm_v128_store(row + c + 4, hi);
    }
  }
}

// One token: 8 rows straight from the weights, widened in registers; x permuted.
#define ROW8_16(NAME, EVEN, ODD, ONE)                                                                  \
  static void NAME(const u16 *w, int cols, const float *x, float *out) {                               \
    v128_t acc[8];                                                                                     \
    for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);                                          \
    int whole = cols & ~7;                                                                             \
    for (int c = 0; c < whole; c += 8) {                                                               \
      v128_t xe = wasm_v128_load(x + c), xo = wasm_v128_load(x + c + 4);                               \
      for (int i = 0; i < 8; i++) {                                                                    \
        v128_t h = wasm_v128_load(w + (long)i * cols + c);                                             \
        FMA(acc[i], EVEN(h), xe);                                                                      \
        FMA(acc[i], ODD(h), xo);                                                                       \
      }                                                                                                \
    }                                                                                                  \
    for (int i = 0; i < 8; i++) out[i] = hsum(acc[i]);                                                 \
    for (int c = whole; c < cols; c++) {                                                               \
      for (int i = 0; i < 8; i++) out[i] += ONE(w[(long)i * cols + c]) * x[c];                         \
    }                                                                                                  \
  }

ROW8_16(row8_f16, f16_even, f16_odd, f16_one)
ROW8_16(row8_bf16, bf16_even, bf16_odd, bf16_one)

// Several tokens: each tile's rows are widened into `wbuf` ([4][cols]; the rows a last tile lacks
// are zeros) in the permuted order of x, each row's tail columns one at a time in place.
#define MATMUL16(NAME, ROW8, EVEN, ODD, ONE)                                                           \
  __attribute__((export_name(#NAME))) void NAME(const u16 *w, const float *x, float *y, int rows, int cols, \
                                                int tokens, float *wbuf, int ystride) {                \
    int r = 0, whole = cols & ~7;                                                                      \
    if (tokens == 1) {                                                                                 \
      for (; r + 8 <= rows; r += 8) ROW8(w + (long)r * cols, cols, x, y + r);                          \
    }                                                                                                  \
    for (; r < rows; r += 4) {                                                                         \
      int here = rows - r < 4 ? rows - r : 4;                                                          \
      for (int i = 0; i < 4; i++) {                                                                    \
        const u16 *src = w + (long)(r + i) * cols;                                                     \
        float *dst = wbuf + (long)i * cols;                                                            \
        if (i >= here) {                                                                               \
          for (int c = 0; c < cols; c++) dst[c] = 0.0f;                                                \
          continue;                                                                                    \
        }                                                                                              \
        for (int c = 0; c < whole; c += 8) {                                                           \
          v128_t h = wasm_v128_load(src + c);                                                          \
          wasm_v128_store(dst + c, EVEN(h));                                                           \
          wasm_v128_store(dst + c + 4, ODD(h));                                                        \
        }                                                                                              \
        for (int c = whole; c < cols; c++) dst[c] = ONE(src[c]);                                       \
      }                                                                                                \
      matmul_rows(wbuf, x, y, r, rows, cols, whole, tokens, ystride);                                  \
    }                                                                                                  \
  }

MATMUL16(matmul_f16, row8_f16, f16_even, f16_odd, f16_one)
MATMUL16(matmul_bf16, row8_bf16, bf16_even, bf16_odd, bf16_one)

// ---- quantized weights (kernels/quant.ts): blocks of 32 columns, an f32 scale each ----------
// Each tile's 4 rows are dequantized into `wbuf` (weight × its block's scale, rounded to f32), then
// multiplied exactly as f32 weights are (matmul_rows), one token or many: the sums are those of
// matmul_f32 on the dequantized matrix, so a token's result does not depend on the batch. `s`
// holds each row's cols / 32 scales. cols is a multiple of 32.

typedef int8_t i8;
typedef uint8_t u8;

// 16 signed bytes as four f32 vectors, each times d, stored at out[0..16).
static inline void store_i8x16(v128_t q, v128_t d, float *out) {
  v128_t lo = wasm_i16x8_extend_low_i8x16(q), hi = wasm_i16x8_extend_high_i8x16(q);
  wasm_v128_store(out, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(lo)), d));
  wasm_v128_store(out + 4, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(lo)), d));
  wasm_v128_store(out + 8, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(hi)), d));
  wasm_v128_store(out + 12, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(hi)), d));
}

static void dequant_q8(const i8 *q, const float *s, int cols, float *out) {
  for (int b = 0; b < cols / 32; b++) {
    v128_t d = wasm_f32x4_splat(s[b]);
    store_i8x16(wasm_v128_load(q + 32 * b), d, out + 32 * b);
    store_i8x16(wasm_v128_load(q + 32 * b + 16), d, out + 32 * b + 16);
  }
}

// Byte j of a block: weight j in the low nibble, weight j + 16 in the high one, each stored + 8.
static void dequant_q4(const u8 *q, const float *s, int cols, float *out) {
  v128_t mask = wasm_i8x16_splat(15), eight = wasm_i8x16_splat(8);
  for (int b = 0; b < cols / 32; b++) {
    v128_t d = wasm_f32x4_splat(s[b]);
    v128_t bytes = wasm_v128_load(q + 16 * b);
    store_i8x16(wasm_i8x16_sub(wasm_v128_and(bytes, mask), eight), d, out + 32 * b);
    store_i8x16(wasm_i8x16_sub(wasm_u8x16_shr(bytes, 4), eight), d, out + 32 * b + 16);
  }
}

#define MATMUL_Q(NAME, T, DEQUANT, ROW_BYTES)                                                           \
  __attribute__((export_name(#NAME))) void NAME(const T *w, const float *s, const float *x, float *y,  \
                                                int rows, int cols, int tokens, float *wbuf, int ystride) { \
    int nb = cols / 32;                                                                                \
    for (int r = 0; r < rows; r += 4) {                                                                \
      int here = rows - r < 4 ? rows - r : 4;                                                          \
      for (int i = 0; i < 4; i++) {                                                                    \
        float *dst = wbuf + (long)i * cols;                                                            \
        if (i < here) DEQUANT(w + (long)(r + i) * ROW_BYTES, s + (long)(r + i) * nb, cols, dst);      \
        else for (int c = 0; c < cols; c++) dst[c] = 0.0f;                                             \
      }                                                                                                \
      matmul_rows(wbuf, x, y, r, rows, cols, cols, tokens, ystride);                                   \
    }                                                                                                  \
  }

MATMUL_Q(matmul_q8, i8, dequant_q8, cols)
MATMUL_Q(matmul_q4, u8, dequant_q4, cols / 2)
