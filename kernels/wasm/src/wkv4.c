#include "common.h"

// ---- RWKV-4 WKV, numerically stable form ---------------------------------------------------
// Per channel c, for each token t (num, den scaled by e^-max):
//   m = max(max, k+u); wkv = (e^(max-m) num + e^(k+u-m) v) / (e^(max-m) den + e^(k+u-m))
//   m' = max(max+w, k); num = e^(max+w-m') num + e^(k-m') v; den = e^(max+w-m') den + e^(k-m'); max = m'
// num, den, max, w (= -exp(time_decay)), u (time_first): [A]; k, v, out: [T][A]. A % 4 == 0.
// Threads split the channels: this call runs channels [c0, c1) (multiples of 4) of `channels`.

__attribute__((export_name("wkv4"))) void wkv4(float *num, float *den, float *mx, const float *w, const float *u,
                                               const float *k, const float *v, float *out, int tokens, int channels,
                                               int c0, int c1) {
  for (int c = c0; c < c1; c += 4) {
    v128_t vn = wasm_v128_load(num + c), vd = wasm_v128_load(den + c), vm = wasm_v128_load(mx + c);
    v128_t vw = wasm_v128_load(w + c), vu = wasm_v128_load(u + c);
    for (int t = 0; t < tokens; t++) {
      long o = (long)t * channels + c;
      v128_t kt = wasm_v128_load(k + o), vt = wasm_v128_load(v + o);
      v128_t ku = wasm_f32x4_add(kt, vu);
      v128_t m = wasm_f32x4_max(vm, ku);
      v128_t e1 = exp_v(wasm_f32x4_sub(vm, m)), e2 = exp_v(wasm_f32x4_sub(ku, m));
      v128_t wkv = wasm_f32x4_div(wasm_f32x4_add(wasm_f32x4_mul(e1, vn), wasm_f32x4_mul(e2, vt)),
                                  wasm_f32x4_add(wasm_f32x4_mul(e1, vd), e2));
      wasm_v128_store(out + o, wkv);
      v128_t mw = wasm_f32x4_add(vm, vw);
      v128_t m2 = wasm_f32x4_max(mw, kt);
      e1 = exp_v(wasm_f32x4_sub(mw, m2));
      e2 = exp_v(wasm_f32x4_sub(kt, m2));
      vn = wasm_f32x4_add(wasm_f32x4_mul(e1, vn), wasm_f32x4_mul(e2, vt));
      vd = wasm_f32x4_add(wasm_f32x4_mul(e1, vd), e2);
      vm = m2;
    }
    wasm_v128_store(num + c, vn);
    wasm_v128_store(den + c, vd);
    wasm_v128_store(mx + c, vm);
  }
}
