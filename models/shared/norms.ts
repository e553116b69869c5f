/** Layer norm of `n` values at `x[xo..]` into `out[oo..]`: (x - mean) / sqrt(var + eps) * w + b. */
export function layerNorm(
  x: Float32Array,
  xo: number,
  out: Float32Array,
  oo: number,
  p: { w: Float32Array; b: Float32Array; eps: number },
): void {
  const n = p.w.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[xo + i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = x[xo + i] - mean;
    v += d * d;
  }
  const inv = 1 / Math.sqrt(v / n + p.eps);
  for (let i = 0; i < n; i++) out[oo + i] = (x[xo + i] - mean) * inv * p.w[i] + p.b[i];
}

/** Group norm in place over `groups` equal groups of `x[xo..xo+w.length]`, then the affine `w`, `b`. */
export function groupNorm(
  x: Float32Array,
  xo: number,
  groups: number,
  p: { w: Float32Array; b: Float32Array; eps: number },
): void {
  const size = p.w.length / groups;
  for (let g = 0; g < groups; g++) {
    const o = xo + g * size;
    let mean = 0;
    for (let i = 0; i < size; i++) mean += x[o + i];
    mean /= size;
    let v = 0;
    for (let i = 0; i < size; i++) {
      const d = x[o + i] - mean;
      v += d * d;
    }
    const inv = 1 / Math.sqrt(v / size + p.eps);
    for (let i = 0; i < size; i++) {
      const c = g * size + i;
      x[o + i] = (x[o + i] - mean) * inv * p.w[c] + p.b[c];
    }
  }
}

/** The logistic function. */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** RMS norm of `w.length` values at `x[xo..]` into `out[oo..]`: x / sqrt(mean(x²) + eps) · w. */
export function rmsNorm(
  x: Float32Array,
  xo: number,
  out: Float32Array,
  oo: number,
  w: Float32Array,
  eps: number,
) {
  const n = w.length;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[xo + i] * x[xo + i];
  const inv = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) out[oo + i] = w[i] * (x[xo + i] * inv);
}

/** The error function (Abramowitz & Stegun 7.1.26 refined; |error| < 1.5e-7). */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
      Math.exp(-a * a);
  return sign * y;
}

/** GELU, exact form (as torch.nn.functional.gelu): x · Φ(x). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}
