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

// Grouped matrices (row_groups.ts): under *_DIRECT_BELOW tokens, each token straight from the group,
// its rows widened as they are read (the group stays in L1 for the next token); more: 4 rows at a
// time copied (widened) into wbuf once, then every token streams past them. Same sums in the same
// order either way. The thresholds are where bench/kernel_ab.ts measured the two ways even (3072 x 768,
// 1 thread): bf16 widens in one instruction, so reading directly wins up to 32 tokens (1.7x at 2);
// f32 to 12; f16's widening costs several, so it is worth widening once from 2 tokens on.
#define G32_DIRECT_BELOW 12
#define BF16_DIRECT_BELOW 32
#define F16_DIRECT_BELOW 2
__attribute__((export_name("matmul_f32_g8"))) void matmul_f32_g8(const float *w, const float *x, float *y,
                                                                 int rows, int cols, int tokens, float *wbuf,
                                                                 int ystride) {
  for (int r = 0; r < rows; r += 8) {
    const float *g = w + (long)r * cols;
    if (tokens < G32_DIRECT_BELOW) {
      for (int t = 0; t < tokens; t++) group_f32(g, cols, x + (long)t * cols, y + (long)t * ystride + r);
      continue;
    }
    for (int half = 0; half < 2; half++) {
      ungroup4_f32(g, cols, half, wbuf);
      matmul_rows(wbuf, x, y, r + 4 * half, rows, cols, cols, tokens, ystride);
    }
  }
}

#define GROUP16(NAME, EVEN, ODD, DIRECT_BELOW, ONE_FAST)                                                        \
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
    if (tokens == 1 && ONE_FAST(w, x, y, rows, cols, wbuf)) return;                                     \
    for (int r = 0; r < rows; r += 8) {                                                                \
      const u16 *g = w + (long)r * cols;                                                               \
      if (tokens < DIRECT_BELOW) {                                                                     \
        for (int t = 0; t < tokens; t++) NAME##_one(g, cols, x + (long)t * cols, y + (long)t * ystride + r); \
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

// One token of f16 weights without the widening's multiply: an f16 pattern moved into f32 position is
// w * 2^-112 exactly (normal or not), so with x scaled by 2^112 (exact, into wbuf) each product is
// w * x exactly and every sum is bitwise the same. Only where no |x| reaches 2^16 (x * 2^112 would
// overflow); returns 0 to take the plain path otherwise.
static inline v128_t f16_raw(v128_t top) {
  return wasm_v128_and(wasm_i32x4_shr(top, 3), wasm_i32x4_splat((int)0x8fffe000u));
}
static int f16_one_fast(const u16 *w, const float *x, float *y, int rows, int cols, float *xs) {
  v128_t big = wasm_f32x4_splat(0x1p16f), over = wasm_i32x4_splat(0);
  for (int c = 0; c < cols; c += 4) {
    v128_t v = wasm_v128_load(x + c);
    over = wasm_v128_or(over, wasm_f32x4_ge(wasm_f32x4_abs(v), big));
    wasm_v128_store(xs + c, wasm_f32x4_mul(v, wasm_f32x4_splat(0x1p112f)));
  }
  if (wasm_v128_any_true(over)) return 0;
  for (int r = 0; r < rows; r += 8) {
    const u16 *g = w + (long)r * cols;
    v128_t acc[8];
    for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_splat(0);
    for (int c = 0; c < cols; c += 8, g += 64) {
      v128_t xe = wasm_v128_load(xs + c), xo = wasm_v128_load(xs + c + 4);
      for (int i = 0; i < 8; i++) {
        v128_t h = wasm_v128_load(g + 8 * i);
        FMA(acc[i], f16_raw(wasm_i32x4_shl(h, 16)), xe);
        FMA(acc[i], f16_raw(h), xo);
      }
    }
    for (int i = 0; i < 8; i++) y[r + i] = hsum(acc[i]);
  }
  return 1;
}
static inline int no_fast(const u16 *w, const float *x, float *y, int rows, int cols, float *xs) {
  (void)w, (void)x, (void)y, (void)rows, (void)cols, (void)xs;
  return 0;
}

GROUP16(matmul_f16_g8, f16_even, f16_odd, F16_DIRECT_BELOW, f16_one_fast)
GROUP16(matmul_bf16_g8, bf16_even, bf16_odd, BF16_DIRECT_BELOW, no_fast)

// ---- quantized weights (kernels/quant.ts): blocks of 32 columns, an f32 scale each ----------
// Integer dot products. Each token's x is first quantized per block of 32 (quantize_x): x ≈ q · xs
// with xs = max|x| / 63 and q in -63..63, stored offset by 64 (1..127) so it is a 7-bit unsigned
// operand. A block's sum Σ w·q is then exact in i32 (see group_q below for how).

typedef int8_t i8;
typedef uint8_t u8;

// x[tokens][cols] -> xq[tokens][cols] (q + 64), xs[tokens][cols / 32] and xc[tokens][cols / 32]
// (−8 · the block's Σ (q + 64): what q4's unsigned nibbles add, see block_sums).
__attribute__((export_name("quantize_x"))) void quantize_x(const float *x, int tokens, int cols, u8 *xq,
                                                           float *xs, int32_t *xc) {
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
      v128_t sum = wasm_i32x4_splat(0);
      for (int i = 0; i < 32; i += 16) {
        v128_t q[4];
        for (int j = 0; j < 4; j++)
          q[j] = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(v + i + 4 * j), inv)));
        v128_t lo = wasm_i16x8_add(wasm_i16x8_narrow_i32x4(q[0], q[1]), off);
        v128_t hi = wasm_i16x8_add(wasm_i16x8_narrow_i32x4(q[2], q[3]), off);
        wasm_v128_store(xq + t * cols + 32 * b + i, wasm_u8x16_narrow_i16x8(lo, hi));
        sum = wasm_i32x4_add(sum, wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(lo),
                                                 wasm_i32x4_extadd_pairwise_i16x8(hi)));
      }
      xc[t * nb + b] = -8 * (wasm_i32x4_extract_lane(sum, 0) + wasm_i32x4_extract_lane(sum, 1) +
                             wasm_i32x4_extract_lane(sum, 2) + wasm_i32x4_extract_lane(sum, 3));
    }
  }
}

// In WASM memory a quantized matrix is held as groups of 4 rows (zero rows pad the last group),
// block by block, as 16-byte vectors whose i32 lane j holds row j's weights for 4 columns:
//   q8: 8 vectors per block; vector k holds columns 4k .. 4k+3.
//   q4: 4 vectors per block; vector k holds columns 8k .. 8k+3 in its low nibbles and 8k+4 .. 8k+7
//       in its high ones (each weight + 8, as in the file).
// Scales and the dot products' starting values (−64 · Σ w, see below) likewise: [group][block][4].
// group_q rearranges a matrix placed in the file's order. Against activations broadcast 4 bytes at
// a time, one dot-add per vector leaves each row's partial sum in its own lane: a block's 4 exact
// integer sums at once, with no horizontal sums. Per (row, token) an f32 lane then accumulates
// f32(block sum) × (ws · xs) over the blocks in order: the same arithmetic for one token or many,
// on both builds (the integer sums are exact either way).

static inline int nibble(const u8 *block, int i) { return i < 16 ? block[i] & 15 : block[i - 16] >> 4; }

// Rows 0..3 of `src` (row-major, file order, `row_bytes` apart) into `dst` in the grouped order.
static void group_rows_q(const u8 *src, u8 *dst, int cols, int q4) {
  int nb = cols / 32;
  long row_bytes = q4 ? cols / 2 : cols;
  for (int b = 0; b < nb; b++) {
    for (int j = 0; j < 4; j++) {
      const u8 *block = src + j * row_bytes + (q4 ? 16 : 32) * b;
      for (int k = 0; k < (q4 ? 4 : 8); k++) {
        for (int m = 0; m < 4; m++) {
          u8 *d = dst + (long)((q4 ? 4 : 8) * b + k) * 16 + 4 * j + m;
          *d = q4 ? (u8)(nibble(block, 8 * k + m) | nibble(block, 8 * k + 4 + m) << 4) : block[4 * k + m];
        }
      }
    }
  }
}

// [4][nb] 32-bit values -> [nb][4], in place through tmp.
static void group_values(uint32_t *v, int nb, uint32_t *tmp) {
  for (int i = 0; i < 4 * nb; i++) tmp[i] = v[i];
  for (int b = 0; b < nb; b++)
    for (int j = 0; j < 4; j++) v[4 * b + j] = tmp[j * nb + b];
}

// A matrix of rows4 (a multiple of 4) rows placed in the file's order: weights w, scales ws and
// starting values wb, each rearranged in place; tmp holds 4 rows of weights.
__attribute__((export_name("group_q"))) void group_q(u8 *w, uint32_t *ws, uint32_t *wb, int rows4, int cols,
                                                     int q4, u8 *tmp) {
  int nb = cols / 32;
  long group_bytes = 4L * (q4 ? cols / 2 : cols);
  for (long g = 0; g < rows4 / 4; g++) {
    u8 *gw = w + g * group_bytes;
    for (long i = 0; i < group_bytes; i++) tmp[i] = gw[i];
    group_rows_q(tmp, gw, cols, q4);
    group_values(ws + g * 4 * nb, nb, (uint32_t *)tmp);
    group_values(wb + g * 4 * nb, nb, (uint32_t *)tmp);
  }
}

// The exact sums Σ w·q of one block for the group's 4 rows (lanes) and each of nt tokens (x: the
// tokens' offset activations, `cols` apart; xc their blocks' −8 · Σ (q + 64), `nb` apart). With
// relaxed SIMD the dot-adds see q + 64 and start from −64 · Σ w (`start`); q4 takes its nibbles as
// stored, w + 8 (0..15: no subtraction per vector), which adds 8 · Σ (q + 64) to the sum, and xc
// takes that back. Without relaxed SIMD, 16-bit dot products take q and w themselves (lane pairs
// added after).
INLINE void block_sums(const u8 *wv, const int32_t *start, const u8 *x, const int32_t *xc, int cols, int nb,
                       int nt, int q4, v128_t *s) {
#ifdef __wasm_relaxed_simd__
  v128_t init = wasm_v128_load(start);
  for (int t = 0; t < nt; t++) s[t] = q4 ? wasm_i32x4_add(init, wasm_i32x4_splat(xc[(long)t * nb])) : init;
  for (int k = 0; k < (q4 ? 4 : 8); k++) {
    v128_t v = wasm_v128_load(wv + 16 * k);
    if (q4) {
      v128_t low4 = wasm_i8x16_splat(15);
      v128_t lo = wasm_v128_and(v, low4), hi = wasm_v128_and(wasm_u16x8_shr(v, 4), low4);
      for (int t = 0; t < nt; t++) {
        const u8 *xt = x + (long)t * cols + 8 * k;
        s[t] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(lo, wasm_v128_load32_splat(xt), s[t]);
        s[t] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(hi, wasm_v128_load32_splat(xt + 4), s[t]);
      }
    } else {
      for (int t = 0; t < nt; t++)
        s[t] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(v, wasm_v128_load32_splat(x + (long)t * cols + 4 * k), s[t]);
    }
  }
#else
  (void)start, (void)xc, (void)nb;
  v128_t lo[4], hi[4], off = wasm_i16x8_splat(64);
  for (int t = 0; t < nt; t++) lo[t] = hi[t] = wasm_i32x4_splat(0);
  for (int k = 0; k < 8; k++) {
    // Vector k of q8, or half k of q4's vector k / 2 (low nibbles, then high): columns c .. c+3.
    v128_t v;
    int c;
    if (q4) {
      v128_t packed = wasm_v128_load(wv + 16 * (k / 2));
      v = k % 2 ? wasm_u8x16_shr(packed, 4) : wasm_v128_and(packed, wasm_i8x16_splat(15));
      v = wasm_i8x16_sub(v, wasm_i8x16_splat(8));
      c = 8 * (k / 2) + 4 * (k % 2);
    } else {
      v = wasm_v128_load(wv + 16 * k);
      c = 4 * k;
    }
    v128_t wl = wasm_i16x8_extend_low_i8x16(v), wh = wasm_i16x8_extend_high_i8x16(v);
    for (int t = 0; t < nt; t++) {
      v128_t xv = wasm_i16x8_sub(wasm_u16x8_extend_low_u8x16(wasm_v128_load32_splat(x + (long)t * cols + c)), off);
      lo[t] = wasm_i32x4_add(lo[t], wasm_i32x4_dot_i16x8(wl, xv));
      hi[t] = wasm_i32x4_add(hi[t], wasm_i32x4_dot_i16x8(wh, xv));
    }
  }
  // lo = [row 0, row 0, row 1, row 1] partial sums, hi the same for rows 2 and 3.
  for (int t = 0; t < nt; t++)
    s[t] = wasm_i32x4_add(wasm_i32x4_shuffle(lo[t], hi[t], 0, 2, 4, 6), wasm_i32x4_shuffle(lo[t], hi[t], 1, 3, 5, 7));
#endif
}

// The group's `here` rows of y for nt tokens (y: token 0's row 0, tokens `ystride` apart).
INLINE void group_tile(const u8 *wg, const float *ws, const int32_t *wb, const u8 *xq, const float *xs,
                       const int32_t *xc, float *y, int cols, int ystride, int here, int nt, int q4) {
  int nb = cols / 32;
  v128_t acc[4], s[4];
  for (int t = 0; t < nt; t++) acc[t] = wasm_f32x4_splat(0);
  for (int b = 0; b < nb; b++) {
    block_sums(wg + (long)(q4 ? 64 : 128) * b, wb + 4 * b, xq + 32 * b, xc + b, cols, nb, nt, q4, s);
    v128_t scale = wasm_v128_load(ws + 4 * b);
    for (int t = 0; t < nt; t++)
      FMA(acc[t], wasm_f32x4_convert_i32x4(s[t]), wasm_f32x4_mul(scale, wasm_f32x4_splat(xs[(long)t * nb + b])));
  }
  for (int t = 0; t < nt; t++) {
    if (here == 4) wasm_v128_store(y + (long)t * ystride, acc[t]);
    else store_part(y + (long)t * ystride, acc[t], here);
  }
}

// Rows [0, rows) of y for each token, a group of 4 rows at a time (4 tokens at a time against it,
// then the rest one by one). w, ws and wb point at the first group; the last may be partial. (Two
// groups at a time against one token, reading its activations once, measured 1.1-1.2x in cache but
// 0.7-0.8x on a matrix out of cache: two interleaved streams of weights.)
#define MATMUL_Q(NAME, Q4)                                                                             \
  __attribute__((export_name(#NAME))) void NAME(const u8 *w, const float *ws, const int32_t *wb,       \
                                                const u8 *xq, const float *xs, float *y, int rows,     \
                                                int cols, int tokens, int ystride, const int32_t *xc) { \
    int nb = cols / 32;                                                                                \
    long group_bytes = 4L * (Q4 ? cols / 2 : cols);                                                    \
    for (int r = 0; r < rows; r += 4) {                                                                \
      int here = rows - r < 4 ? rows - r : 4;                                                          \
      const u8 *wg = w + (r / 4) * group_bytes;                                                        \
      const float *gs = ws + (long)r * nb;                                                             \
      const int32_t *gb = wb + (long)r * nb;                                                           \
      int t = 0;                                                                                       \
      for (; t + 4 <= tokens; t += 4)                                                                  \
        group_tile(wg, gs, gb, xq + (long)t * cols, xs + (long)t * nb, xc + (long)t * nb,              \
                   y + (long)t * ystride + r, cols, ystride, here, 4, Q4);                             \
      for (; t < tokens; t++)                                                                          \
        group_tile(wg, gs, gb, xq + (long)t * cols, xs + (long)t * nb, xc + (long)t * nb,              \
                   y + (long)t * ystride + r, cols, ystride, here, 1, Q4);                             \
    }                                                                                                  \
  }

MATMUL_Q(matmul_q8, 0)
MATMUL_Q(matmul_q4, 1)
