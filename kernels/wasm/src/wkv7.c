#include "common.h"

// ---- RWKV-7 state update ------------------------------------------------------------
// For each token and head, with S[i][j] (i: value index, j: key index):
//   sa_i = sum_j S[i][j] a_j;  S[i][j] = S[i][j] w_j + sa_i b_j + v_i k_j;  y_i = sum_j S[i][j] r_j
// state: [heads][n][n]; r, w, k, v, a, b, y: [tokens][stride] (stride = heads * n, unless the caller
// splits the heads between threads); any n (the last n % 4 keys go through load_part/store_part).
// The body is instantiated twice (see INLINE in common.h).

INLINE void wkv7_body(float *state, const float *r, const float *w, const float *k, const float *v,
                      const float *a, const float *b, float *y, int tokens, int heads, int n, int stride,
                      int tail) {
  int c = stride, whole = n - tail;
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
        for (int j = 0; j < whole; j += 4) FMA(acc, wasm_v128_load(row + j), wasm_v128_load(ah + j));
        if (tail) FMA(acc, load_part(row + whole, tail), load_part(ah + whole, tail));
        v128_t sa = wasm_f32x4_splat(hsum(acc));
        v128_t vi = wasm_f32x4_splat(vh[i]);
        v128_t out = wasm_f32x4_splat(0);
        for (int j = 0; j < whole; j += 4) {
          v128_t sij = wasm_f32x4_mul(wasm_v128_load(row + j), wasm_v128_load(wh + j));
          FMA(sij, sa, wasm_v128_load(bh + j));
          FMA(sij, vi, wasm_v128_load(kh + j));
          wasm_v128_store(row + j, sij);
          FMA(out, sij, wasm_v128_load(rh + j));
        }
        if (tail) {
          int j = whole;
          v128_t sij = wasm_f32x4_mul(load_part(row + j, tail), load_part(wh + j, tail));
          FMA(sij, sa, load_part(bh + j, tail));
          FMA(sij, vi, load_part(kh + j, tail));
          store_part(row + j, sij, tail);
          FMA(out, sij, load_part(rh + j, tail));
        }
        yh[i] = hsum(out);
      }
    }
  }
}

__attribute__((export_name("wkv7"))) void wkv7(float *state, const float *r, const float *w, const float *k,
                                               const float *v, const float *a, const float *b, float *y,
                                               int tokens, int heads, int n, int stride) {
  if (n % 4 == 0) wkv7_body(state, r, w, k, v, a, b, y, tokens, heads, n, stride, 0);
  else wkv7_body(state, r, w, k, v, a, b, y, tokens, heads, n, stride, n % 4);
}
