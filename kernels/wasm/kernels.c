// WASM-SIMD kernels. Built by `deno task build:wasm` (clang --target=wasm32 -msimd128).
//
// Conventions: a matrix is row-major [rows][cols]; `cols` is a multiple of 8 (the
// loader checks it). Activations are f32. Weights are f32, f16 or bf16, widened to
// f32 in registers; all sums accumulate in f32. No libc: only what is here.

#include <stdint.h>
#include <wasm_simd128.h>

typedef uint16_t u16;

// ---- widening 16-bit floats to f32 ------------------------------------------------
// Both start by interleaving the halves with zeros, which puts each 16-bit pattern in the
// top half of a 32-bit lane (one unpack instruction).

static inline v128_t hi16_lo(v128_t h) { return wasm_i16x8_shuffle(wasm_i16x8_splat(0), h, 0, 8, 1, 9, 2, 10, 3, 11); }
static inline v128_t hi16_hi(v128_t h) {
  return wasm_i16x8_shuffle(wasm_i16x8_splat(0), h, 4, 12, 5, 13, 6, 14, 7, 15);
}

// bf16 is the top half of an f32: nothing more to do.
static inline v128_t bf16_lo(v128_t h) { return hi16_lo(h); }
static inline v128_t bf16_hi(v128_t h) { return hi16_hi(h); }

// f16 -> f32 for finite values (normals and subnormals): an arithmetic shift by 3 moves the
// 5-bit exponent and 10-bit mantissa into f32 position (copying the sign into 3 bits the mask
// clears), and a multiply by 2^112 rebiases the exponent. Inf/NaN are not expected in weights.
static inline v128_t f16_widen(v128_t top) {
  v128_t bits = wasm_v128_and(wasm_i32x4_shr(top, 3), wasm_i32x4_splat((int)0x8fffe000u));
  return wasm_f32x4_mul(bits, wasm_f32x4_splat(0x1p112f));
}
static inline v128_t f16_lo(v128_t h) { return f16_widen(hi16_lo(h)); }
static inline v128_t f16_hi(v128_t h) { return f16_widen(hi16_hi(h)); }

static inline float hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

#define FMA(acc, a, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))

// ---- matvec: y[rows] = W[rows][cols] x[cols] -----------------------------------------
// One row at a time, four independent accumulators (the add latency is hidden, the weight
// stream is one sequential read).

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
    for (; c < cols; c += 8) {
      FMA(a0, wasm_v128_load(row + c), wasm_v128_load(x + c));
      FMA(a1, wasm_v128_load(row + c + 4), wasm_v128_load(x + c + 4));
    }
    y[r] = hsum(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)));
  }
}

// 16-bit weights: eight halves loaded as four 32-bit lanes hold the even-indexed elements in
// their low halves and the odd-indexed ones in their high halves. Widening them in that
// split order takes only shifts and masks (no shuffles); x is permuted once per call into
// `xp` ([even 4][odd 4] per 8 columns) so the dot product is unchanged.

static void permute_x(const float *x, float *xp, int cols) {
  for (int c = 0; c < cols; c += 8) {
    for (int j = 0; j < 4; j++) {
      xp[c + j] = x[c + 2 * j];
      xp[c + 4 + j] = x[c + 2 * j + 1];
    }
  }
}

static inline v128_t bf16_even(v128_t h) { return wasm_i32x4_shl(h, 16); }
static inline v128_t bf16_odd(v128_t h) { return wasm_v128_and(h, wasm_i32x4_splat((int)0xffff0000u)); }
static inline v128_t f16_fix(v128_t top) {
  v128_t bits = wasm_v128_and(wasm_i32x4_shr(top, 3), wasm_i32x4_splat((int)0x8fffe000u));
  return wasm_f32x4_mul(bits, wasm_f32x4_splat(0x1p112f));
}
static inline v128_t f16_even(v128_t h) { return f16_fix(wasm_i32x4_shl(h, 16)); }
static inline v128_t f16_odd(v128_t h) { return f16_fix(h); }

#define MATVEC16(NAME, EVEN, ODD)                                                                        \
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
      for (; c < cols; c += 8) {                                                                         \
        v128_t h0 = wasm_v128_load(row + c);                                                             \
        FMA(a[0], EVEN(h0), wasm_v128_load(xp + c));                                                     \
        FMA(a[1], ODD(h0), wasm_v128_load(xp + c + 4));                                                  \
      }                                                                                                  \
      for (int i = 1; i < 8; i++) a[0] = wasm_f32x4_add(a[0], a[i]);                                     \
      y[r] = hsum(a[0]);                                                                                 \
    }                                                                                                    \
  }

MATVEC16(matvec_f16, f16_even, f16_odd)
MATVEC16(matvec_bf16, bf16_even, bf16_odd)

// ---- matmul: Y[t][rows] = X[t][cols] W[rows][cols]^T ---------------------------------
// Tiles of 4 weight rows x 2 tokens; the 4 rows (widened to f32 in `wbuf`) stay in cache
// while every token streams past them, so each weight byte is read from memory once.

static void tile_4x2(const float *w, int cols, const float *x0, const float *x1, float *out0, float *out1,
                     int rows_here) {
  v128_t acc[8];
  for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);
  for (int c = 0; c < cols; c += 4) {
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

// wbuf: 4 * cols floats of scratch owned by the caller. ystride: floats between tokens' rows of y
// (rows, unless the caller splits the rows between threads).
static void matmul_rows(const float *w4, const float *x, float *y, int r, int rows, int cols, int tokens,
                        int ystride) {
  int here = rows - r < 4 ? rows - r : 4;
  int t = 0;
  for (; t + 2 <= tokens; t += 2)
    tile_4x2(w4, cols, x + (long)t * cols, x + (long)(t + 1) * cols, y + (long)t * ystride + r,
             y + (long)(t + 1) * ystride + r, here);
  if (t < tokens) {
    float dummy[4];
    tile_4x2(w4, cols, x + (long)t * cols, x + (long)t * cols, y + (long)t * ystride + r, dummy, here);
  }
}

__attribute__((export_name("matmul_f32"))) void matmul_f32(const float *w, const float *x, float *y, int rows,
                                                           int cols, int tokens, float *wbuf, int ystride) {
  for (int r = 0; r < rows; r += 4) {
    int here = rows - r < 4 ? rows - r : 4;
    const float *src = w + (long)r * cols;
    if (here < 4) {
      for (int i = 0; i < 4 * cols; i++) wbuf[i] = i < here * cols ? src[i] : 0.0f;
      src = wbuf;
    }
    matmul_rows(src, x, y, r, rows, cols, tokens, ystride);
  }
}

#define MATMUL16(NAME, LO, HI)                                                                         \
  __attribute__((export_name(#NAME))) void NAME(const u16 *w, const float *x, float *y, int rows, int cols, \
                                                int tokens, float *wbuf, int ystride) {                \
    for (int r = 0; r < rows; r += 4) {                                                                \
      int here = rows - r < 4 ? rows - r : 4;                                                          \
      const u16 *src = w + (long)r * cols;                                                             \
      for (int i = 0; i < here * cols; i += 8) {                                                       \
        v128_t h = wasm_v128_load(src + i);                                                            \
        wasm_v128_store(wbuf + i, LO(h));                                                              \
        wasm_v128_store(wbuf + i + 4, HI(h));                                                          \
      }                                                                                                \
      for (int i = here * cols; i < 4 * cols; i++) wbuf[i] = 0.0f;                                     \
      matmul_rows(wbuf, x, y, r, rows, cols, tokens, ystride);                                         \
    }                                                                                                  \
  }

MATMUL16(matmul_f16, f16_lo, f16_hi)
MATMUL16(matmul_bf16, bf16_lo, bf16_hi)

// ---- RWKV-7 state update ------------------------------------------------------------
// For each token and head, with S[i][j] (i: value index, j: key index):
//   sa_i = sum_j S[i][j] a_j;  S[i][j] = S[i][j] w_j + sa_i b_j + v_i k_j;  y_i = sum_j S[i][j] r_j
// state: [heads][n][n]; r, w, k, v, a, b, y: [tokens][stride] (stride = heads * n, unless the caller
// splits the heads between threads); n a multiple of 4.

__attribute__((export_name("wkv7"))) void wkv7(float *state, const float *r, const float *w, const float *k,
                                               const float *v, const float *a, const float *b, float *y,
                                               int tokens, int heads, int n, int stride) {
  int c = stride;
  for (int t = 0; t < tokens; t++) {
    long o = (long)t * c;
    for (int h = 0; h < heads; h++) {
      float *s = state + (long)h * n * n;
      const float *rh = r + o + h * n, *wh = w + o + h * n, *kh = k + o + h * n;
      const float *vh = v + o + h * n, *ah = a + o + h * n, *bh = b + o + h * n;
      float *yh = y + o + h * n;
      for (int i = 0; i < n; i++) {
        float *row = s + i * n;
        v128_t acc = wasm_f32x4_splat(0);
        for (int j = 0; j < n; j += 4) FMA(acc, wasm_v128_load(row + j), wasm_v128_load(ah + j));
        v128_t sa = wasm_f32x4_splat(hsum(acc));
        v128_t vi = wasm_f32x4_splat(vh[i]);
        v128_t out = wasm_f32x4_splat(0);
        for (int j = 0; j < n; j += 4) {
          v128_t sij = wasm_f32x4_mul(wasm_v128_load(row + j), wasm_v128_load(wh + j));
          FMA(sij, sa, wasm_v128_load(bh + j));
          FMA(sij, vi, wasm_v128_load(kh + j));
          wasm_v128_store(row + j, sij);
          FMA(out, sij, wasm_v128_load(rh + j));
        }
        yh[i] = hsum(out);
      }
    }
  }
}

// ---- bandwidth probe ---------------------------------------------------------------
// Sums n floats (n a multiple of 32) with eight independent accumulators: the fastest
// this module can stream memory, the roofline that benchmarks compare kernels against.

__attribute__((export_name("sum_f32"))) float sum_f32(const float *p, int n) {
  v128_t a[8];
  for (int i = 0; i < 8; i++) a[i] = wasm_f32x4_splat(0);
  for (int i = 0; i < n; i += 32) {
    for (int j = 0; j < 8; j++) a[j] = wasm_f32x4_add(a[j], wasm_v128_load(p + i + 4 * j));
  }
  for (int j = 1; j < 8; j++) a[0] = wasm_f32x4_add(a[0], a[j]);
  return hsum(a[0]);
}
