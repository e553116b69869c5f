import type { Backend, Matrix } from "../../kernels/mod.ts";
import { widenTo } from "../../kernels/widen.ts";
import { sigmoid } from "./norms.ts";

/** Runs `tokens` through `runChunk` in chunks of at most `chunk` (RangeError when there are none). */
export function forEachChunk(
  tokens: ArrayLike<number>,
  chunk: number,
  runChunk: (part: number[]) => void,
): void {
  if (tokens.length === 0) throw new RangeError("forward() needs at least one token");
  for (let start = 0; start < tokens.length; start += chunk) {
    runChunk(Array.prototype.slice.call(tokens, start, Math.min(start + chunk, tokens.length)));
  }
}

/** A RangeError unless `id` is a token id below `vocab`. */
export function checkToken(id: number, vocab: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocab) {
    throw new RangeError(`Token id ${id} is outside the vocabulary (0..${vocab - 1})`);
  }
}

/** A copy of `values` in backend memory (kernels read only from there). */
export function toBackend(backend: Backend, values: Float32Array): Float32Array {
  const out = backend.f32(values.length);
  out.set(values);
  return out;
}

/** Checks each token id and widens its embedding row into `out` ([tokens][emb.cols]). */
export function embedTokens(emb: Matrix, tokens: ArrayLike<number>, out: Float32Array): void {
  for (let t = 0; t < tokens.length; t++) {
    checkToken(tokens[t], emb.rows);
    widenTo(emb, tokens[t], out.subarray(t * emb.cols, (t + 1) * emb.cols));
  }
}

/** Where a causal depthwise conv reads its input: `src[t * stride + offset + channel]`. */
export interface ConvInput {
  readonly src: Float32Array;
  readonly stride: number;
  readonly offset: number;
}

/**
 * Causal depthwise conv + SiLU over `n` tokens (Mamba, Mamba-2): each channel keeps a window of
 * its last `k` inputs in `window[base + c·k ..]`, oldest first; `out` is `[n][channels]`.
 */
export function causalConvSilu(
  window: Float32Array,
  base: number,
  weights: { readonly w: Float32Array; readonly b: Float32Array | undefined },
  input: ConvInput,
  out: Float32Array,
  shape: { readonly channels: number; readonly k: number; readonly tokens: number },
): void {
  const { channels, k, tokens } = shape;
  for (let c = 0; c < channels; c++) {
    const s = base + c * k, w = c * k;
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < k - 1; j++) window[s + j] = window[s + j + 1];
      window[s + k - 1] = input.src[t * input.stride + input.offset + c];
      let acc = weights.b ? weights.b[c] : 0;
      for (let j = 0; j < k; j++) acc += window[s + j] * weights.w[w + j];
      out[t * channels + c] = acc * sigmoid(acc);
    }
  }
}

/** Adds a projection's output `out` (and its optional bias) to the residual stream `x`, both `[n][d]`. */
export function addResidual(
  x: Float32Array,
  out: Float32Array,
  bias: Float32Array | undefined,
  n: number,
  d: number,
) {
  for (let t = 0; t < n; t++) {
    for (let c = 0; c < d; c++) x[t * d + c] += out[t * d + c] + (bias ? bias[c] : 0);
  }
}
