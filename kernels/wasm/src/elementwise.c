#include "common.h"

// ---- element-wise ops of the op lists (kernels/ops.ts), on f32 rows of `cols` -------------------
// The same formulas as kernels/cpu/execute.ts, in f32 lanes with common.h's exp_v (the reference
// computes in f64 and rounds once: results agree to ~1e-6 relative). Rows are processed 4 columns at
// a time; a row's last cols % 4 columns go through load_part / store_part.

// The lanes [c, c + 4) of a row of `cols` (fewer at the end), loaded and stored.
#define LOAD(p, c, cols) ((c) + 4 <= (cols) ? wasm_v128_load((p) + (c)) : load_part((p) + (c), (cols) - (c)))
#define STORE(p, c, cols, v)                                                                          \
  do {                                                                                                \
    if ((c) + 4 <= (cols)) wasm_v128_store((p) + (c), v);                                             \
    else store_part((p) + (c), v, (cols) - (c));                                                      \
  } while (0)

static inline v128_t splat(float v) { return wasm_f32x4_splat(v); }
static inline v128_t sigmoid_v(v128_t x) {
  return wasm_f32x4_div(splat(1.0f), wasm_f32x4_add(splat(1.0f), exp_v(wasm_f32x4_neg(x))));
}
// tanh x = 1 − 2 / (e^{2x} + 1) (exact at the saturated ends; ~1e-7 absolute near 0).
static inline v128_t tanh_v(v128_t x) {
  v128_t e = exp_v(wasm_f32x4_add(x, x));
  return wasm_f32x4_sub(splat(1.0f), wasm_f32x4_div(splat(2.0f), wasm_f32x4_add(e, splat(1.0f))));
}
// GELU x · Φ(x), Φ through the same erf approximation as kernels/cpu/math.ts.
static inline v128_t gelu_v(v128_t x) {
  v128_t z = wasm_f32x4_mul(x, splat(0.70710678118654752f)), a = wasm_f32x4_abs(z);
  v128_t t = wasm_f32x4_div(splat(1.0f), wasm_f32x4_add(splat(1.0f), wasm_f32x4_mul(splat(0.3275911f), a)));
  v128_t p = splat(1.061405429f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-1.453152027f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(1.421413741f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-0.284496736f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(0.254829592f));
  v128_t y = wasm_f32x4_sub(splat(1.0f), wasm_f32x4_mul(wasm_f32x4_mul(p, t), exp_v(wasm_f32x4_neg(wasm_f32x4_mul(a, a)))));
  v128_t erf = wasm_v128_bitselect(wasm_f32x4_neg(y), y, wasm_f32x4_lt(z, splat(0.0f)));
  return wasm_f32x4_mul(wasm_f32x4_mul(splat(0.5f), x), wasm_f32x4_add(splat(1.0f), erf));
}

// The unary functions by number (kernels/wasm/backend.ts lists them in the same order).
enum { TANH, SIGMOID, SILU, RELU, RELU2, GELU, SCALE };

static inline v128_t unary_v(int fn, v128_t x, float k) {
  switch (fn) {
    case TANH: return tanh_v(x);
    case SIGMOID: return sigmoid_v(x);
    case SILU: return wasm_f32x4_mul(x, sigmoid_v(x));
    case RELU: return wasm_f32x4_max(x, splat(0.0f));
    case RELU2: {
      v128_t r = wasm_f32x4_max(x, splat(0.0f));
      return wasm_f32x4_mul(r, r);
    }
    case GELU: return gelu_v(x);
    default: return wasm_f32x4_mul(x, splat(k));
  }
}

// out[t][c] = fn(x[t][c] + bias[c]) for `rows` rows (bias may be null).
__attribute__((export_name("unary_f32"))) void unary_f32(int fn, const float *x, float *out, const float *bias,
                                                         int rows, int cols, float k) {
  for (long t = 0; t < rows; t++) {
    const float *xr = x + t * cols;
    float *o = out + t * cols;
    for (int c = 0; c < cols; c += 4) {
      v128_t v = LOAD(xr, c, cols);
      if (bias) v = wasm_f32x4_add(v, LOAD(bias, c, cols));
      STORE(o, c, cols, unary_v(fn, v, k));
    }
  }
}

// One token-shift mix over `tokens` rows of one run: prev is `saved` for the first row, else the
// row before. lerp: out = cur + (prev − cur) · coef; mix: out = cur · coef + prev · (1 − coef).
__attribute__((export_name("shift_mix"))) void shift_mix(const float *x, const float *saved, const float *coef,
                                                         float *out, int tokens, int cols, int lerp) {
  for (long t = 0; t < tokens; t++) {
    const float *cur = x + t * cols, *prev = t == 0 ? saved : cur - cols;
    float *o = out + t * cols;
    for (int c = 0; c < cols; c += 4) {
      v128_t a = LOAD(cur, c, cols), p = LOAD(prev, c, cols), m = LOAD(coef, c, cols);
      v128_t y = lerp ? wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_sub(p, a), m))
                      : wasm_f32x4_add(wasm_f32x4_mul(a, m), wasm_f32x4_mul(p, wasm_f32x4_sub(splat(1.0f), m)));
      STORE(o, c, cols, y);
    }
  }
}

// Layer norm (or RMS norm) of each of `groups` groups of each row; weight and bias may be null.
__attribute__((export_name("norm_f32"))) void norm_f32(const float *x, float *out, const float *w, const float *b,
                                                       int rows, int cols, int groups, float eps, int rms) {
  int size = cols / groups;
  for (long t = 0; t < rows; t++) {
    for (int g = 0; g < groups; g++) {
      const float *xr = x + t * cols + g * size;
      float *o = out + t * cols + g * size;
      float mean = 0.0f;
      if (!rms) {
        v128_t s = splat(0.0f);
        for (int i = 0; i < size; i += 4) s = wasm_f32x4_add(s, LOAD(xr, i, size));
        mean = hsum(s) / size;
      }
      v128_t m = splat(mean), q = splat(0.0f);
      for (int i = 0; i < size; i += 4) {
        v128_t d = wasm_f32x4_sub(LOAD(xr, i, size), m);
        if (i + 4 > size) d = wasm_v128_and(d, wasm_f32x4_lt(wasm_f32x4_make(0, 1, 2, 3), splat(size - i)));
        q = wasm_f32x4_add(q, wasm_f32x4_mul(d, d));
      }
      v128_t inv = splat(1.0f / __builtin_sqrtf(hsum(q) / size + eps));
      for (int i = 0; i < size; i += 4) {
        v128_t y = wasm_f32x4_mul(wasm_f32x4_sub(LOAD(xr, i, size), m), inv);
        if (w) y = wasm_f32x4_mul(y, LOAD(w + g * size, i, size));
        if (b) y = wasm_f32x4_add(y, LOAD(b + g * size, i, size));
        STORE(o, i, size, y);
      }
    }
  }
}

// RWKV-7's per-token mixing (kernels/ops.ts Rwkv7MixOp), in place on w, a, k, kk and b.
__attribute__((export_name("rwkv7_mix"))) void rwkv7_mix(float *w, float *a, float *k, float *kk, float *b,
                                                         const float *w0, const float *a0, const float *kK,
                                                         const float *kA, int rows, int cols, int heads) {
  int n = cols / heads;
  for (long t = 0; t < rows; t++) {
    long o = t * cols;
    for (int c = 0; c < cols; c += 4) {
      v128_t s = sigmoid_v(wasm_f32x4_add(LOAD(w0, c, cols), LOAD(w + o, c, cols)));
      STORE(w + o, c, cols, exp_v(wasm_f32x4_mul(splat(-0.606531f), s)));
      STORE(a + o, c, cols, sigmoid_v(wasm_f32x4_add(LOAD(a0, c, cols), LOAD(a + o, c, cols))));
      STORE(kk + o, c, cols, wasm_f32x4_mul(LOAD(k + o, c, cols), LOAD(kK, c, cols)));
    }
    for (int h = 0; h < heads; h++) {
      float *v = kk + o + h * n;
      v128_t q = splat(0.0f);
      for (int j = 0; j < n; j += 4) {
        v128_t x = LOAD(v, j, n);
        q = wasm_f32x4_add(q, wasm_f32x4_mul(x, x));
      }
      float norm = __builtin_sqrtf(hsum(q));
      v128_t inv = splat(1.0f / (norm > 1e-12f ? norm : 1e-12f));
      for (int j = 0; j < n; j += 4) STORE(v, j, n, wasm_f32x4_mul(LOAD(v, j, n), inv));
    }
    for (int c = 0; c < cols; c += 4) {
      v128_t av = LOAD(a + o, c, cols), kkv = LOAD(kk + o, c, cols);
      v128_t scale = wasm_f32x4_add(splat(1.0f), wasm_f32x4_mul(wasm_f32x4_sub(av, splat(1.0f)), LOAD(kA, c, cols)));
      STORE(k + o, c, cols, wasm_f32x4_mul(LOAD(k + o, c, cols), scale));
      STORE(b + o, c, cols, wasm_f32x4_mul(kkv, av));
      STORE(kk + o, c, cols, wasm_f32x4_neg(kkv));
    }
  }
}
