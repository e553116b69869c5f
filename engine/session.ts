import type { LoadedModel, RecurrentState } from "../models/mod.ts";
import type { ConstraintSnapshot } from "./constraint/mod.ts";
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
  /** Where a constrained (structured-output) generation is in its grammar, while one runs. */
  constraint?: ConstraintSnapshot;
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

/** Tokens per prefill slice: between slices the event loop runs, so other requests are answered. */
export const PREFILL_SLICE = 64;

/**
 * Feeds a prompt to the model in slices of {@linkcode PREFILL_SLICE} tokens, yielding to the event
 * loop between slices so a long prefill does not freeze other requests. Stops early (the session
 * then holds the slices fed so far) once `signal` is aborted, throwing its reason.
 */
export async function prefill(
  loaded: LoadedModel,
  session: Session,
  tokens: readonly number[],
  signal?: AbortSignal,
): Promise<void> {
  for (let start = 0; start < tokens.length; start += PREFILL_SLICE) {
    if (start > 0) await new Promise((resolve) => setTimeout(resolve, 0));
    signal?.throwIfAborted();
    appendTokens(loaded, session, tokens.slice(start, start + PREFILL_SLICE));
  }
}

/** A random 32-bit seed from the platform's CSPRNG (for requests that give none). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
