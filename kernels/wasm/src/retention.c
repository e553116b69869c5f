#include "common.h"

// ---- RetNet retention, recurrent form ----------------------------------------------------
// For each token t and head h (keys DK wide, values DV wide):
//   kv[h][a][j] = kv[h][a][j]·keep[t][h] + k[t][h][j]·v[t][h][a]·add[t][h];  o[t][h][a] = Σ_j q[t][h][j] kv[h][a][j]
// (keep and add carry the reference's √scale normalization). kv: [H][DV][DK]; q, k: [T][H·DK];
// v, o: [T][H·DV]; keep, add: [T][H]. Any DK: the last DK % 4 keys go through load_part/store_part
// (the body is instantiated twice, see INLINE in common.h). Threads split the heads: this call runs
// heads [h0, h1) of `heads`.

INLINE void retention_body(float *kv, const float *q, const float *k, const float *v, const float *keep,
                           const float *add, float *o, int tokens, int heads, int dk, int dv, int h0, int h1,
                           int tail) {
  int whole = dk - tail;
  for (int t = 0; t < tokens; t++) {
    for (int h = h0; h < h1; h++) {
      const float *qh = q + ((long)t * heads + h) * dk, *kh = k + ((long)t * heads + h) * dk;
      const float *vh = v + ((long)t * heads + h) * dv;
      float *oh = o + ((long)t * heads + h) * dv;
      v128_t kp = wasm_f32x4_splat(keep[(long)t * heads + h]);
      float ad = add[(long)t * heads + h];
      for (int a = 0; a < dv; a++) {
        float *row = kv + ((long)h * dv + a) * dk;
        v128_t va = wasm_f32x4_splat(vh[a] * ad), acc = wasm_f32x4_splat(0);
        for (int j = 0; j < whole; j += 4) {
          v128_t r = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(row + j), kp),
                                    wasm_f32x4_mul(wasm_v128_load(kh + j), va));
          wasm_v128_store(row + j, r);
          FMA(acc, wasm_v128_load(qh + j), r);
        }
        if (tail) {
          int j = whole;
          v128_t r = wasm_f32x4_add(wasm_f32x4_mul(load_part(row + j, tail), kp),
                                    wasm_f32x4_mul(load_part(kh + j, tail), va));
          store_part(row + j, r, tail);
          FMA(acc, load_part(qh + j, tail), r);
        }
        oh[a] = hsum(acc);
      }
    }
  }
}

__attribute__((export_name("retention"))) void retention(float *kv, const float *q, const float *k, const float *v,
                                                         const float *keep, const float *add, float *o, int tokens,
                                                         int heads, int dk, int dv, int h0, int h1) {
  if (dk % 4 == 0) retention_body(kv, q, k, v, keep, add, o, tokens, heads, dk, dv, h0, h1, 0);
  else retention_body(kv, q, k, v, keep, add, o, tokens, heads, dk, dv, h0, h1, dk % 4);
}
