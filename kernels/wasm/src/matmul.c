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

// ---- row groups: 8 rows interleaved in 16-byte pieces ---------------------------------
// A matrix whose rows are a multiple of 8 (and whose columns fill whole 16-byte pieces: 4 f32 or
// 8 16-bit values) is placed as groups of 8 rows, each group as [piece][row 0..7][16 bytes]: one
// token reads a group as one sequential stream instead of 8 interleaved ones (about 1.5-2x the
// bandwidth from memory). The sums are the same as the row-major kernels', in the same order, so
// the two layouts give bit-identical results. Rows r.. of a grouped matrix start at the same offset
// as in row-major order (r a multiple of 8), so threads split it the same way, on multiples of 8.
// The backend groups a matrix as it places it (kernels/wasm/backend.ts).

// One token, f32: a group's 8 rows, piece by piece.
static void group_f32(const float *g, int cols, const float *x, float *out) {
  v128_t acc[8];
  for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);
  for (int c = 0; c < cols; c += 4, g += 32) {
    v128_t xa = wasm_v128_load(x + c);
    for (int i = 0; i < 8; i++) FMA(acc[i], wasm_v128_load(g + 4 * i), xa);
  }
  for (int i = 0; i < 8; i++) out[i] = hsum(acc[i]);
}

// Rows `half` * 4 .. + 3 of the group at g, back in row-major order in wbuf ([4][cols]).
static void ungroup4_f32(const float *g, int cols, int half, float *wbuf) {
  for (int c = 0; c < cols; c += 4)
    for (int i = 0; i < 4; i++)
      wasm_v128_store(wbuf + (long)i * cols + c, wasm_v128_load(g + (long)c * 8 + 4 * (4 * half + i)));
}

__attribute__((export_name("matmul_f32_g8"))) void matmul_f32_g8(const float *w, const float *x, float *y,
                                                                 int rows, int cols, int tokens, float *wbuf,
                                                                 int ystride) {
  for (int r = 0; r < rows; r += 8) {
    const float *g = w + (long)r * cols;
    if (tokens == 1) {
      group_f32(g, cols, x, y + r);
      continue;
    }
    for (int half = 0; half < 2; half++) {
      ungroup4_f32(g, cols, half, wbuf);
      matmul_rows(wbuf, x, y, r + 4 * half, rows, cols, cols, tokens, ystride);
    }
  }
}

// 16-bit: one token straight from the group; several: 4 rows widened into wbuf as MATMUL16 does.
#define GROUP16(NAME, EVEN, ODD)                                                                       \
  static void NAME##_one(const u16 *g, int cols, const float *x, float *out) {                         \
    v128_t acc[8];                                                                                     \
    for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);                                          \
    for (int c = 0; c < cols; c += 8, g += 64) {                                                       \
      v128_t xe = wasm_v128_load(x + c), xo = wasm_v128_load(x + c + 4);                               \
      for (int i = 0; i < 8; i++) {                                                                    \
        v128_t h = wasm_v128_load(g + 8 * i);                                                          \
        FMA(acc[i], EVEN(h), xe);                                                                      \
        FMA(acc[i], ODD(h), xo);                                                                       \
      }                                                                                                \
    }                                                                                                  \
    for (int i = 0; i < 8; i++) out[i] = hsum(acc[i]);                                                 \
  }                                                                                                    \
  __attribute__((export_name(#NAME))) void NAME(const u16 *w, const float *x, float *y, int rows, int cols, \
                                                int tokens, float *wbuf, int ystride) {                \
    for (int r = 0; r < rows; r += 8) {                                                                \
      const u16 *g = w + (long)r * cols;                                                               \
      if (tokens == 1) {                                                                               \
        NAME##_one(g, cols, x, y + r);                                                                 \
        continue;                                                                                      \
      }                                                                                                \
      for (int half = 0; half < 2; half++) {                                                           \
        for (int c = 0; c < cols; c += 8) {                                                            \
          for (int i = 0; i < 4; i++) {                                                                \
            v128_t h = wasm_v128_load(g + (long)c * 8 + 8 * (4 * half + i));                           \
            wasm_v128_store(wbuf + (long)i * cols + c, EVEN(h));                                       \
            wasm_v128_store(wbuf + (long)i * cols + c + 4, ODD(h));                                    \
          }                                                                                            \
        }                                                                                              \
        matmul_rows(wbuf, x, y, r + 4 * half, rows, cols, cols, tokens, ystride);                      \
      }                                                                                                \
    }                                                                                                  \
  }

GROUP16(matmul_f16_g8, f16_even, f16_odd)
GROUP16(matmul_bf16_g8, bf16_even, bf16_odd)

// ---- quantized weights (kernels/quant.ts): blocks of 32 columns, an f32 scale each ----------
// Integer dot products. Each token's x is first quantized per block of 32 (quantize_x): x ≈ q · xs
// with xs = max|x| / 63 and q in -63..63, stored offset by 64 (1..127) so it is a 7-bit unsigned
// operand. A block's sum Σ w·q is then exact in i32: with relaxed SIMD, two i8 × i7 dot-adds on
// the offset values, less 64 · Σ w (`wb`, one i32 per block, computed as the matrix is placed);
// without, the same sum through 16-bit dot products. Per (row, token): an f32 vector accumulates
// f32(block sum) × (ws · xs) over the blocks in order, then a horizontal sum: the same arithmetic
// for one token or many, and on both builds.

typedef int8_t i8;
typedef uint8_t u8;

// x[tokens][cols] -> xq[tokens][cols] (q + 64) and xs[tokens][cols / 32].
__attribute__((export_name("quantize_x"))) void quantize_x(const float *x, int tokens, int cols, u8 *xq,
                                                           float *xs) {
  int nb = cols / 32;
  for (long t = 0; t < tokens; t++) {
    for (int b = 0; b < nb; b++) {
      const float *v = x + t * cols + 32 * b;
      v128_t m = wasm_f32x4_splat(0);
      for (int i = 0; i < 32; i += 4) m = wasm_f32x4_max(m, wasm_f32x4_abs(wasm_v128_load(v + i)));
      float max = wasm_f32x4_extract_lane(m, 0);
      for (int l = 1; l < 4; l++) {
        float e = l == 1 ? wasm_f32x4_extract_lane(m, 1) : l == 2 ? wasm_f32x4_extract_lane(m, 2)
                                                                 : wasm_f32x4_extract_lane(m, 3);
        if (e > max) max = e;
      }
      xs[t * nb + b] = max / 63.0f;
      v128_t inv = wasm_f32x4_splat(max > 0 ? 63.0f / max : 0.0f), off = wasm_i16x8_splat(64);
      for (int i = 0; i < 32; i += 16) {
        v128_t q[4];
        for (int j = 0; j < 4; j++)
          q[j] = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(v + i + 4 * j), inv)));
        v128_t lo = wasm_i16x8_add(wasm_i16x8_narrow_i32x4(q[0], q[1]), off);
        v128_t hi = wasm_i16x8_add(wasm_i16x8_narrow_i32x4(q[2], q[3]), off);
        wasm_v128_store(xq + t * cols + 32 * b + i, wasm_u8x16_narrow_i16x8(lo, hi));
      }
    }
  }
}

// Σ w·(x − 64) over 16 columns, added to acc (i32x4). w: 16 signed weights; x: 16 offset values.
static inline v128_t dot16(v128_t w, v128_t x, v128_t acc) {
#ifdef __wasm_relaxed_simd__
  return wasm_i32x4_relaxed_dot_i8x16_i7x16_add(w, x, acc);
#else
  v128_t off = wasm_i16x8_splat(64);
  v128_t xl = wasm_i16x8_sub(wasm_u16x8_extend_low_u8x16(x), off);
  v128_t xh = wasm_i16x8_sub(wasm_u16x8_extend_high_u8x16(x), off);
  acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(w), xl));
  return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(w), xh));
#endif
}

// The block's integer sum Σ w·q, as 4 lanes. With relaxed SIMD the dot products see x + 64, so
// they start from −64 · Σ w (`bias`) in lane 0; without, they subtract the offset themselves.
static inline v128_t block_sum(v128_t w0, v128_t w1, v128_t x0, v128_t x1, int32_t bias) {
#ifdef __wasm_relaxed_simd__
  v128_t acc = wasm_i32x4_make(-bias, 0, 0, 0);
#else
  (void)bias;
  v128_t acc = wasm_i32x4_splat(0);
#endif
  acc = dot16(w0, x0, acc);
  return dot16(w1, x1, acc);
}

// A q4 block's 16 bytes as its 32 signed weights: two vectors of 16.
static inline void unpack_q4(const u8 *q, v128_t *w0, v128_t *w1) {
  v128_t bytes = wasm_v128_load(q), eight = wasm_i8x16_splat(8);
  *w0 = wasm_i8x16_sub(wasm_v128_and(bytes, wasm_i8x16_splat(15)), eight);
  *w1 = wasm_i8x16_sub(wasm_u8x16_shr(bytes, 4), eight);
}

// Rows [0, rows) of y for each token: 4 rows at a time, every token against them while they are
// in cache, two tokens at a time (each block's weights unpacked once for both); each block's
// activations are loaded once for the 4 rows. Every (row, token) sum takes its blocks in order, in
// either tile: the result does not depend on the batch. w rows are `row_bytes` apart;
// ws and wb hold nb = cols / 32 values per row. A last tile with fewer rows repeats its last row
// (computed, not stored).
#define MATMUL_Q(NAME, T, ROW_BYTES, LOAD)                                                              \
  __attribute__((export_name(#NAME))) void NAME(const T *w, const float *ws, const int32_t *wb,        \
                                                const u8 *xq, const float *xs, float *y, int rows,     \
                                                int cols, int tokens, int ystride) {                   \
    int nb = cols / 32;                                                                                \
    for (int r = 0; r < rows; r += 4) {                                                                \
      int here = rows - r < 4 ? rows - r : 4;                                                          \
      long rr[4];                                                                                      \
      for (int i = 0; i < 4; i++) rr[i] = r + (i < here ? i : here - 1);                               \
      const T *w0 = w + rr[0] * (ROW_BYTES), *w1 = w + rr[1] * (ROW_BYTES);                            \
      const T *w2 = w + rr[2] * (ROW_BYTES), *w3 = w + rr[3] * (ROW_BYTES);                            \
      const float *s0 = ws + rr[0] * nb, *s1 = ws + rr[1] * nb, *s2 = ws + rr[2] * nb, *s3 = ws + rr[3] * nb; \
      const int32_t *b0 = wb + rr[0] * nb, *b1 = wb + rr[1] * nb, *b2 = wb + rr[2] * nb, *b3 = wb + rr[3] * nb; \
      long t = 0;                                                                                      \
      for (; t + 2 <= tokens; t += 2) {                                                                \
        v128_t a[8];                                                                                   \
        for (int i = 0; i < 8; i++) a[i] = wasm_f32x4_splat(0);                                        \
        const u8 *x = xq + t * cols, *z = x + cols;                                                    \
        const float *sx = xs + t * nb, *sz = sx + nb;                                                  \
        for (int b = 0; b < nb; b++) {                                                                 \
          v128_t xa = wasm_v128_load(x + 32 * b), xb = wasm_v128_load(x + 32 * b + 16);                \
          v128_t za = wasm_v128_load(z + 32 * b), zb = wasm_v128_load(z + 32 * b + 16);                \
          const T *wr[4] = {w0, w1, w2, w3};                                                           \
          const float *sr[4] = {s0, s1, s2, s3};                                                       \
          const int32_t *br[4] = {b0, b1, b2, b3};                                                     \
          for (int i = 0; i < 4; i++) {                                                                \
            v128_t p0, p1;                                                                             \
            LOAD(wr[i], b, &p0, &p1);                                                                  \
            FMA(a[i], wasm_f32x4_convert_i32x4(block_sum(p0, p1, xa, xb, br[i][b])),                   \
                wasm_f32x4_splat(sr[i][b] * sx[b]));                                                   \
            FMA(a[4 + i], wasm_f32x4_convert_i32x4(block_sum(p0, p1, za, zb, br[i][b])),               \
                wasm_f32x4_splat(sr[i][b] * sz[b]));                                                   \
          }                                                                                            \
        }                                                                                              \
        for (int i = 0; i < here; i++) {                                                               \
          y[t * ystride + r + i] = hsum(a[i]);                                                         \
          y[(t + 1) * ystride + r + i] = hsum(a[4 + i]);                                               \
        }                                                                                              \
      }                                                                                                \
      for (; t < tokens; t++) {                                                                        \
        v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;                                    \
        const u8 *x = xq + t * cols;                                                                   \
        const float *sx = xs + t * nb;                                                                 \
        for (int b = 0; b < nb; b++) {                                                                 \
          v128_t xa = wasm_v128_load(x + 32 * b), xb = wasm_v128_load(x + 32 * b + 16);                \
          v128_t p0, p1;                                                                               \
          LOAD(w0, b, &p0, &p1);                                                                       \
          FMA(a0, wasm_f32x4_convert_i32x4(block_sum(p0, p1, xa, xb, b0[b])), wasm_f32x4_splat(s0[b] * sx[b])); \
          LOAD(w1, b, &p0, &p1);                                                                       \
          FMA(a1, wasm_f32x4_convert_i32x4(block_sum(p0, p1, xa, xb, b1[b])), wasm_f32x4_splat(s1[b] * sx[b])); \
          LOAD(w2, b, &p0, &p1);                                                                       \
          FMA(a2, wasm_f32x4_convert_i32x4(block_sum(p0, p1, xa, xb, b2[b])), wasm_f32x4_splat(s2[b] * sx[b])); \
          LOAD(w3, b, &p0, &p1);                                                                       \
          FMA(a3, wasm_f32x4_convert_i32x4(block_sum(p0, p1, xa, xb, b3[b])), wasm_f32x4_splat(s3[b] * sx[b])); \
        }                                                                                              \
        float *out = y + t * ystride + r;                                                              \
        out[0] = hsum(a0);                                                                             \
        if (here > 1) out[1] = hsum(a1);                                                               \
        if (here > 2) out[2] = hsum(a2);                                                               \
        if (here > 3) out[3] = hsum(a3);                                                               \
      }                                                                                                \
    }                                                                                                  \
  }

static inline void load_q8(const i8 *row, int b, v128_t *w0, v128_t *w1) {
  *w0 = wasm_v128_load(row + 32 * b);
  *w1 = wasm_v128_load(row + 32 * b + 16);
}
static inline void load_q4(const u8 *row, int b, v128_t *w0, v128_t *w1) { unpack_q4(row + 16 * b, w0, w1); }

MATMUL_Q(matmul_q8, i8, cols, load_q8)
MATMUL_Q(matmul_q4, u8, cols / 2, load_q4)
