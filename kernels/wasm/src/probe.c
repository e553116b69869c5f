#include "common.h"

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

// ---- compute probe -------------------------------------------------------------------
// Twelve independent multiply-add chains (enough to cover FMA latency on two ports), `iters`
// rounds: the most f32 multiply-adds per second this module can issue, the peak that prefill
// (matmul) is compared against. Each round is 12 x 4 lanes x 2 flops = 96 flops.

__attribute__((export_name("fma_peak"))) float fma_peak(int iters, float x) {
  v128_t a[12];
  v128_t s = wasm_f32x4_splat(x), m = wasm_f32x4_splat(0.999f);
  for (int j = 0; j < 12; j++) a[j] = wasm_f32x4_splat((float)j * 0.001f);
  for (int i = 0; i < iters; i++) {
    for (int j = 0; j < 12; j++) FMA(a[j], s, m);
  }
  for (int j = 1; j < 12; j++) a[0] = wasm_f32x4_add(a[0], a[j]);
  return hsum(a[0]);
}
