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

// softplus x = max(x, 0) + log1p(e^−|x|), log1p(u) = 2·atanh(u / (2 + u)) by its odd series: u is in
// (0, 1], so s = u / (2 + u) is at most 1/3 and 7 terms leave < 1e-8; small u loses nothing to 1 + u.
// (torch's threshold of 20, x itself above it, is the same value in f32.)
static inline v128_t softplus_v(v128_t x) {
  v128_t u = exp_v(wasm_f32x4_neg(wasm_f32x4_abs(x)));
  v128_t s = wasm_f32x4_div(u, wasm_f32x4_add(splat(2.0f), u)), s2 = wasm_f32x4_mul(s, s);
  v128_t p = splat(1.0f / 13);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, s2), splat(1.0f / 11));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, s2), splat(1.0f / 9));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, s2), splat(1.0f / 7));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, s2), splat(1.0f / 5));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, s2), splat(1.0f / 3));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, s2), splat(1.0f));
  return wasm_f32x4_add(wasm_f32x4_max(x, splat(0.0f)), wasm_f32x4_mul(wasm_f32x4_add(s, s), p));
}

// The unary functions by number (kernels/wasm/backend.ts lists them in the same order).
enum { TANH, SIGMOID, SILU, RELU, RELU2, GELU, SCALE, SOFTPLUS };

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
    case SOFTPLUS: return softplus_v(x);
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

// A causal convolution of width k over one run of `tokens` rows, then SiLU (kernels/ops.ts
// CausalConvOp): window [channels][k] holds each channel's last k inputs (oldest first) and is
// left holding the run's last k; out[t][c] = SiLU(bias[c] + Σ_j window[c][j]·w[c][j]) as the
// window slides over src[t][c] (rows `stride` apart). Four channels at a time keep their window in
// registers (the body is instantiated for k = 4, Mamba's width, and for any k up to 8); other
// widths and the last channels % 4 go one by one.
#define CONV_MAX 8
INLINE int conv_body(float *window, const float *src, int stride, const float *w, const float *bias, float *out,
                     int tokens, int channels, int k) {
  int c = 0;
  for (; c + 4 <= channels; c += 4) {
    v128_t win[CONV_MAX], wt[CONV_MAX];
    for (int j = 0; j < k; j++) {
      win[j] = wasm_f32x4_make(window[c * k + j], window[(c + 1) * k + j], window[(c + 2) * k + j],
                               window[(c + 3) * k + j]);
      wt[j] = wasm_f32x4_make(w[c * k + j], w[(c + 1) * k + j], w[(c + 2) * k + j], w[(c + 3) * k + j]);
    }
    v128_t b = bias ? wasm_v128_load(bias + c) : splat(0.0f);
    for (long t = 0; t < tokens; t++) {
      for (int j = 0; j + 1 < k; j++) win[j] = win[j + 1];
      win[k - 1] = wasm_v128_load(src + t * stride + c);
      v128_t acc = b;
      for (int j = 0; j < k; j++) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(win[j], wt[j]));
      wasm_v128_store(out + t * channels + c, wasm_f32x4_mul(acc, sigmoid_v(acc)));
    }
    for (int j = 0; j < k; j++) {
      float lanes[4];
      wasm_v128_store(lanes, win[j]);
      for (int l = 0; l < 4; l++) window[(c + l) * k + j] = lanes[l];
    }
  }
  return c;
}

__attribute__((export_name("causal_conv"))) void causal_conv(float *window, const float *src, int stride,
                                                             const float *w, const float *bias, float *out,
                                                             int tokens, int channels, int k) {
  int c = 0;
  if (k == 4) c = conv_body(window, src, stride, w, bias, out, tokens, channels, 4);
  else if (k >= 1 && k <= CONV_MAX) c = conv_body(window, src, stride, w, bias, out, tokens, channels, k);
  for (; c < channels; c++) {
    float *win = window + c * k;
    const float *wc = w + c * k;
    for (long t = 0; t < tokens; t++) {
      for (int j = 0; j + 1 < k; j++) win[j] = win[j + 1];
      win[k - 1] = src[t * stride + c];
      float acc = bias ? bias[c] : 0.0f;
      for (int j = 0; j < k; j++) acc += win[j] * wc[j];
      out[t * channels + c] = acc / (1.0f + exp_s(-acc));
    }
  }
}
