import type { LoadedModel, RecurrentState } from "../models/mod.ts";
import { newSamplerState, type SamplerState } from "./sampler.ts";

/**
 * Everything a conversation is: the model's state after all its tokens, the
 * logits those tokens lead to, the sampler's memory and the bytes of a
 * character not yet complete. Invariant: every token counted in `tokens` has
 * been fed to the model, so `logits` predicts the next one.
 */
export interface Session {
  /** The model the session belongs to. */
  readonly modelId: string;
  /** That model's weight fingerprint. */
  readonly fingerprint: string;
  /** The recurrent state after all the session's tokens. */
  readonly state: RecurrentState;
  /** `[vocab]` f32 logits after the last token; undefined before any token. */
  logits: Float32Array | undefined;
  /** Tokens consumed so far (prompt and generated). */
  tokens: number;
  /** The PRNG position and penalty counters. */
  sampler: SamplerState;
  /** Bytes of an incomplete UTF-8 character at the end of the generated text. */
  carry: Uint8Array;
}

/** A session at the start of a conversation. */
export function newSession(loaded: LoadedModel, seed: number): Session {
  return {
    modelId: loaded.id,
    fingerprint: loaded.fingerprint,
    state: loaded.model.newState(),
    logits: undefined,
    tokens: 0,
    sampler: newSamplerState(seed),
    carry: new Uint8Array(0),
  };
}

/** Feeds tokens to the model (chunked prefill) and updates the session. */
export function appendTokens(loaded: LoadedModel, session: Session, tokens: readonly number[]): void {
  if (tokens.length === 0) return;
  session.logits = loaded.model.forward(tokens, session.state);
  session.tokens += tokens.length;
}

/** A random 32-bit seed from the platform's CSPRNG (for requests that give none). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
