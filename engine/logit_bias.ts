/**
 * OpenAI's `logit_bias`: a fixed amount added to chosen tokens' logits before sampling
 * (-100 bans a token in practice, +100 all but forces it). Logprobs are still reported under
 * the model's own distribution.
 *
 * @module
 */

/** Token ids (decimal strings, as JSON object keys) to the bias added to their logits. */
export type LogitBias = Readonly<Record<string, number>>;

/** `logits` with `bias` added (a copy; `logits` itself is returned when there is no bias). */
export function withLogitBias(logits: Float32Array, bias: LogitBias | undefined): Float32Array {
  if (!bias) return logits;
  const entries = Object.entries(bias);
  if (entries.length === 0) return logits;
  const out = logits.slice();
  for (const [id, b] of entries) {
    const i = Number(id);
    if (i < out.length) out[i] += b;
  }
  return out;
}

/** The first id of `bias` outside a vocabulary of `vocabSize` tokens, if any. */
export function logitBiasOutside(bias: LogitBias | undefined, vocabSize: number): number | undefined {
  for (const id of Object.keys(bias ?? {})) if (Number(id) >= vocabSize) return Number(id);
  return undefined;
}
