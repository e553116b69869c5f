#include "common.h"

// ---- RWKV-4 WKV, numerically stable form ---------------------------------------------------
// Per channel c, for each token t (num, den scaled by e^-max):
//   m = max(max, k+u); wkv = (e^(max-m) num + e^(k+u-m) v) / (e^(max-m) den + e^(k+u-m))
//   m' = max(max+w, k); num = e^(max+w-m') num + e^(k-m') v; den = e^(max+w-m') den + e^(k-m'); max = m'
// num, den, max, w (= -exp(time_decay)), u (time_first): [A]; k, v, out: [T][A]. Any A.
// Threads split the channels: this call runs channels [c0, c1) of `channels`, four at a time; the
// last (c1 - c0) % 4 run in the zero-padded lanes of load_part (the padding computes 0 / 1, unstored).

// One group of `lanes` (1..4) channels from c over every token; the main loop passes 4, which inlines
// to plain vector loads and stores.
INLINE void wkv4_group(float *num, float *den, float *mx, const float *w, const float *u, const float *k,
                       const float *v, float *out, int tokens, int channels, int c, int lanes) {
  v128_t vn = load_part(num + c, lanes), vd = load_part(den + c, lanes), vm = load_part(mx + c, lanes);
  v128_t vw = load_part(w + c, lanes), vu = load_part(u + c, lanes);
  for (int t = 0; t < tokens; t++) {
    long o = (long)t * channels + c;
    v128_t kt = load_part(k + o, lanes), vt = load_part(v + o, lanes);
    v128_t ku = wasm_f32x4_add(kt, vu);
    v128_t m = wasm_f32x4_max(vm, ku);
    v128_t e1 = exp_v(wasm_f32x4_sub(vm, m)), e2 = exp_v(wasm_f32x4_sub(ku, m));
    v128_t wkv = wasm_f32x4_div(wasm_f32x4_add(wasm_f32x4_mul(e1, vn), wasm_f32x4_mul(e2, vt)),
                                wasm_f32x4_add(wasm_f32x4_mul(e1, vd), e2));
    store_part(out + o, wkv, lanes);
    v128_t mw = wasm_f32x4_add(vm, vw);
    v128_t m2 = wasm_f32x4_max(mw, kt);
    e1 = exp_v(wasm_f32x4_sub(mw, m2));
    e2 = exp_v(wasm_f32x4_sub(kt, m2));
    vn = wasm_f32x4_add(wasm_f32x4_mul(e1, vn), wasm_f32x4_mul(e2, vt));
    vd = wasm_f32x4_add(wasm_f32x4_mul(e1, vd), e2);
    vm = m2;
  }
  store_part(num + c, vn, lanes);
  store_part(den + c, vd, lanes);
  store_part(mx + c, vm, lanes);
}

__attribute__((export_name("wkv4"))) void wkv4(float *num, float *den, float *mx, const float *w, const float *u,
                                               const float *k, const float *v, float *out, int tokens, int channels,
                                               int c0, int c1) {
  int c = c0;
  for (; c + 4 <= c1; c += 4) wkv4_group(num, den, mx, w, u, k, v, out, tokens, channels, c, 4);
  if (c < c1) wkv4_group(num, den, mx, w, u, k, v, out, tokens, channels, c, c1 - c);
}
