#include "common.h"

// ---- Mamba selective scan -----------------------------------------------------------
// For each token t and channel c (I channels, N state entries each):
//   h[c][j] = exp(A[c][j]·dt) h[c][j] + dt·x·B[t][j];  y = Σ_j h[c][j] C[t][j] + D[c]·x;  y *= SiLU(z)
// state: [I][N]; x, dt, z, y: [T][stride] (stride = I unless the caller splits the channels
// between threads); A: [I][N] (negative); B, C: [T][N]; D: [I]. Any N: the last N % 4 entries go
// through load_part/store_part (the body is instantiated twice, see INLINE in common.h).

INLINE void selective_scan_body(float *state, const float *x, const float *dt, const float *A, const float *B,
                                const float *C, const float *D, const float *z, float *y, int tokens,
                                int channels, int n, int stride, int tail) {
  int whole = n - tail;
  for (int t = 0; t < tokens; t++) {
    const float *bt = B + (long)t * n, *ct = C + (long)t * n;
    for (int c = 0; c < channels; c++) {
      long o = (long)t * stride + c;
      float dtc = dt[o], xc = x[o];
      v128_t vdt = wasm_f32x4_splat(dtc), coef = wasm_f32x4_splat(dtc * xc), acc = wasm_f32x4_splat(0);
      float *h = state + (long)c * n;
      const float *a = A + (long)c * n;
      for (int j = 0; j < whole; j += 4) {
        v128_t da = exp_v(wasm_f32x4_mul(wasm_v128_load(a + j), vdt));
        v128_t hj = wasm_f32x4_add(wasm_f32x4_mul(da, wasm_v128_load(h + j)),
                                   wasm_f32x4_mul(coef, wasm_v128_load(bt + j)));
        wasm_v128_store(h + j, hj);
        FMA(acc, hj, wasm_v128_load(ct + j));
      }
      if (tail) {
        int j = whole;
        v128_t da = exp_v(wasm_f32x4_mul(load_part(a + j, tail), vdt));
        v128_t hj = wasm_f32x4_add(wasm_f32x4_mul(da, load_part(h + j, tail)),
                                   wasm_f32x4_mul(coef, load_part(bt + j, tail)));
        store_part(h + j, hj, tail);
        FMA(acc, hj, load_part(ct + j, tail));
      }
      y[o] = (hsum(acc) + D[c] * xc) * silu_s(z[o]);
    }
  }
}

// N = 16 (every Mamba-1 checkpoint) over several tokens: a channel at a time, its 16 state entries
// kept in four registers across the tokens instead of loaded and stored at each; the same arithmetic
// in the same order per entry, so the same results.
static void selective_scan16(float *state, const float *x, const float *dt, const float *A, const float *B,
                             const float *C, const float *D, const float *z, float *y, int tokens, int channels,
                             int stride) {
  for (int c = 0; c < channels; c++) {
    float *h = state + (long)c * 16;
    const float *a = A + (long)c * 16;
    v128_t h0 = wasm_v128_load(h), h1 = wasm_v128_load(h + 4), h2 = wasm_v128_load(h + 8),
           h3 = wasm_v128_load(h + 12);
    v128_t a0 = wasm_v128_load(a), a1 = wasm_v128_load(a + 4), a2 = wasm_v128_load(a + 8),
           a3 = wasm_v128_load(a + 12);
    float dc = D[c];
    for (int t = 0; t < tokens; t++) {
      const float *bt = B + (long)t * 16, *ct = C + (long)t * 16;
      long o = (long)t * stride + c;
      float dtc = dt[o], xc = x[o];
      v128_t vdt = wasm_f32x4_splat(dtc), coef = wasm_f32x4_splat(dtc * xc), acc = wasm_f32x4_splat(0);
#define ENTRY(hj, aj, j)                                                                                   \
  hj = wasm_f32x4_add(wasm_f32x4_mul(exp_v(wasm_f32x4_mul(aj, vdt)), hj),                                 \
                      wasm_f32x4_mul(coef, wasm_v128_load(bt + j)));                                       \
  FMA(acc, hj, wasm_v128_load(ct + j));
      ENTRY(h0, a0, 0)
      ENTRY(h1, a1, 4)
      ENTRY(h2, a2, 8)
      ENTRY(h3, a3, 12)
#undef ENTRY
      y[o] = (hsum(acc) + dc * xc) * silu_s(z[o]);
    }
    wasm_v128_store(h, h0);
    wasm_v128_store(h + 4, h1);
    wasm_v128_store(h + 8, h2);
    wasm_v128_store(h + 12, h3);
  }
}

__attribute__((export_name("selective_scan"))) void selective_scan(float *state, const float *x, const float *dt,
                                                                   const float *A, const float *B, const float *C,
                                                                   const float *D, const float *z, float *y,
                                                                   int tokens, int channels, int n, int stride) {
  if (n == 16 && tokens > 1) selective_scan16(state, x, dt, A, B, C, D, z, y, tokens, channels, stride);
  else if (n % 4 == 0) selective_scan_body(state, x, dt, A, B, C, D, z, y, tokens, channels, n, stride, 0);
  else selective_scan_body(state, x, dt, A, B, C, D, z, y, tokens, channels, n, stride, n % 4);
}

// ---- Mamba-2 SSD recurrence (one scalar decay per head) ----------------------------------
// For each token t, head h (P channels, group g = h / (H / G)):
//   s[h][p][j] = dA[t][h] s[h][p][j] + dt[t][h]·x[t][h][p]·B[t][g][j];  y = Σ_j s C[t][g][j] + D[h]·x
// state: [H][P][N]; x, y: [T][H·P]; dt, dA: [T][H]; B, C: [T][G][N]; D: [H]. Any N, as above.
// Threads split the heads: this call runs heads [h0, h1) of `heads`.

INLINE void ssd_scan_body(float *state, const float *x, const float *dt, const float *dA, const float *B,
                          const float *C, const float *D, float *y, int tokens, int heads, int p, int n,
                          int groups, int h0, int h1, int tail) {
  int per_group = heads / groups, whole = n - tail;
  for (int t = 0; t < tokens; t++) {
    for (int h = h0; h < h1; h++) {
      int g = h / per_group;
      const float *bt = B + ((long)t * groups + g) * n, *ct = C + ((long)t * groups + g) * n;
      float dth = dt[(long)t * heads + h];
      v128_t decay = wasm_f32x4_splat(dA[(long)t * heads + h]);
      for (int q = 0; q < p; q++) {
        long o = (long)t * heads * p + (long)h * p + q;
        float xv = x[o];
        v128_t coef = wasm_f32x4_splat(dth * xv), acc = wasm_f32x4_splat(0);
        float *s = state + ((long)h * p + q) * n;
        for (int j = 0; j < whole; j += 4) {
          v128_t sj = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(s + j), decay),
                                     wasm_f32x4_mul(coef, wasm_v128_load(bt + j)));
          wasm_v128_store(s + j, sj);
          FMA(acc, sj, wasm_v128_load(ct + j));
        }
        if (tail) {
          int j = whole;
          v128_t sj = wasm_f32x4_add(wasm_f32x4_mul(load_part(s + j, tail), decay),
                                     wasm_f32x4_mul(coef, load_part(bt + j, tail)));
          store_part(s + j, sj, tail);
          FMA(acc, sj, load_part(ct + j, tail));
        }
        y[o] = hsum(acc) + D[h] * xv;
      }
    }
  }
}

__attribute__((export_name("ssd_scan"))) void ssd_scan(float *state, const float *x, const float *dt,
                                                       const float *dA, const float *B, const float *C,
                                                       const float *D, float *y, int tokens, int heads, int p,
                                                       int n, int groups, int h0, int h1) {
  if (n % 4 == 0) ssd_scan_body(state, x, dt, dA, B, C, D, y, tokens, heads, p, n, groups, h0, h1, 0);
  else ssd_scan_body(state, x, dt, dA, B, C, D, y, tokens, heads, p, n, groups, h0, h1, n % 4);
}
