#include "common.h"

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

