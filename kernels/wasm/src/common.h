// WASM-SIMD kernels, one op per file in this folder, built together by `deno task build:wasm`
// (clang-19 --target=wasm32 -msimd128 [-mrelaxed-simd]). This header is shared by every kernel file: the 16-bit
// widening helpers, a horizontal sum, FMA, and a vector exp.
//
// Conventions: a matrix is row-major [rows][cols]; any shape is allowed: each kernel runs its
// SIMD body over whole vectors and finishes the last few columns (channels, lanes) with a
// tail that never reads or writes past the end of a row. Row starts need no alignment
// (v128.load accepts any address). Activations are f32. Weights are f32, f16 or bf16, widened
// to f32 in registers; all sums accumulate in f32. No libc: only what is here.
#pragma once
#include <stdint.h>
#include <wasm_simd128.h>

typedef uint16_t u16;

// ---- widening 16-bit floats to f32 ------------------------------------------------
// Eight halves loaded as four 32-bit lanes hold the even-indexed elements in their low halves
// and the odd-indexed ones in their high halves: a shift or a mask puts either in f32 position
// (no shuffle: V8 turns a general shuffle into a slow table lookup). Kernels therefore take a
// group of 8 columns as its even elements, then its odd ones, against x permuted to match.

// f16 -> f32 for finite values (normals and subnormals), from a pattern in the top half of a
// lane: an arithmetic shift by 3 moves the 5-bit exponent and 10-bit mantissa into f32 position
// (copying the sign into 3 bits the mask clears, and clearing whatever the low half held), and a
// multiply by 2^112 rebiases the exponent. Inf/NaN are not expected in weights.
static inline v128_t f16_widen(v128_t top) {
  v128_t bits = wasm_v128_and(wasm_i32x4_shr(top, 3), wasm_i32x4_splat((int)0x8fffe000u));
  return wasm_f32x4_mul(bits, wasm_f32x4_splat(0x1p112f));
}

// bf16 is the top half of an f32: only moving it there.
static inline v128_t bf16_even(v128_t h) { return wasm_i32x4_shl(h, 16); }
static inline v128_t bf16_odd(v128_t h) { return wasm_v128_and(h, wasm_i32x4_splat((int)0xffff0000u)); }
static inline v128_t f16_even(v128_t h) { return f16_widen(wasm_i32x4_shl(h, 16)); }
static inline v128_t f16_odd(v128_t h) { return f16_widen(h); }

// One 16-bit pattern as f32, by the same arithmetic as the vector forms (for tails).
static inline float bf16_one(u16 h) { return __builtin_bit_cast(float, (uint32_t)h << 16); }
static inline float f16_one(u16 h) {
  int32_t bits = ((int32_t)((uint32_t)h << 16) >> 3) & (int32_t)0x8fffe000u;
  return __builtin_bit_cast(float, bits) * 0x1p112f;
}

// ---- tails ---------------------------------------------------------------------------
// Kernels whose inner loop is short (a head, a state) are written once as an INLINE body that
// takes `tail` = n % 4 and are instantiated twice: with tail 0 (aligned sizes: no tail code at
// all, so the common case runs the plain vector loop) and with the real remainder.
#define INLINE static inline __attribute__((always_inline))

// The first n (0..4) floats at p in the low lanes, zeros in the others: reads nothing past
// p[n - 1]. Zero lanes add nothing to a dot product, so a tail can run the vector body.
static inline v128_t load_part(const float *p, int n) {
  float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int i = 0; i < n; i++) buf[i] = p[i];
  return wasm_v128_load(buf);
}
// Stores the low n (0..4) lanes of v at p.
static inline void store_part(float *p, v128_t v, int n) {
  float buf[4];
  wasm_v128_store(buf, v);
  for (int i = 0; i < n; i++) p[i] = buf[i];
}

static inline float hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

// Multiply-add: fused where the runtime has relaxed SIMD (built with -mrelaxed-simd), else mul + add.
#ifdef __wasm_relaxed_simd__
#define FMA(acc, a, b) acc = wasm_f32x4_relaxed_madd(a, b, acc)
#else
#define FMA(acc, a, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))
#endif


// e^x for each lane (|relative error| < 2e-7 over the f32 range; x below -87 gives 0):
// x = n·ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n through the exponent bits.
static inline v128_t exp_v(v128_t x) {
  x = wasm_f32x4_min(x, wasm_f32x4_splat(88.3762626647949f));
  v128_t tiny = wasm_f32x4_lt(x, wasm_f32x4_splat(-87.3365478515625f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, wasm_f32x4_splat(1.0f)));
  v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_v128_andnot(wasm_f32x4_mul(p, scale), tiny);
}

static inline float exp_s(float x) { return wasm_f32x4_extract_lane(exp_v(wasm_f32x4_splat(x)), 0); }
static inline float silu_s(float x) { return x / (1.0f + exp_s(-x)); }
