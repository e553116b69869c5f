import type { StopSignal } from "./stop_flag.ts";
import type { LoadedModel, RecurrentState } from "../models/mod.ts";
import type { ConstraintSnapshot } from "./constraint/mod.ts";
import { newSamplerState, type SamplerState } from "./sampler.ts";
import { type FeedPickOptions, schedulerOf } from "./scheduler.ts";

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

/**
 * Feeds tokens to the model through its batching scheduler (sharing steps with other sessions)
 * and updates the session; the session keeps its state slot (see {@linkcode releaseState}).
 */
export async function appendTokens(
  loaded: LoadedModel,
  session: Session,
  tokens: readonly number[],
): Promise<void> {
  if (tokens.length === 0) return;
  session.logits = await schedulerOf(loaded.model).feed(session, tokens);
}

/**
 * Feeds tokens as {@linkcode appendTokens} does, but returns the next token the backend picked,
 * greedy or by `options.pick` (only its id is read back; see Scheduler.feedPicked); `session.logits`
 * is undefined until {@linkcode syncState} or {@linkcode releaseState} copies the logits from the
 * backend.
 */
export async function appendPicked(
  loaded: LoadedModel,
  session: Session,
  tokens: readonly number[],
  options: FeedPickOptions = {},
): Promise<number> {
  const token = await schedulerOf(loaded.model).feedPicked(session, tokens, options);
  session.logits = undefined;
  return token;
}

/** Brings `session.state` (and logits left in backend memory) up to date with its state slot (before it is saved). */
export function syncState(loaded: LoadedModel, session: Session): Promise<void> {
  return schedulerOf(loaded.model).sync(session);
}

/** Copies `session.state` into the session's state slot again, after the host copy was changed. */
export function reloadState(loaded: LoadedModel, session: Session): void {
  schedulerOf(loaded.model).reload(session);
}

/** Syncs `session.state` and gives the session's state slot back to other sessions. */
export function releaseState(loaded: LoadedModel, session: Session): Promise<void> {
  return schedulerOf(loaded.model).release(session);
}

/** Tokens per prefill slice: between slices the signal is checked (a step holds at most the model's chunk). */
export const PREFILL_SLICE = 64;

/**
 * Feeds a prompt to the model in slices of {@linkcode PREFILL_SLICE} tokens, each batched with
 * other sessions' steps, then syncs the session's state and releases its slot. Stops early (the
 * session then holds the slices fed so far) once `signal` is aborted, throwing its reason.
 */
export async function prefill(
  loaded: LoadedModel,
  session: Session,
  tokens: readonly number[],
  signal?: StopSignal,
): Promise<void> {
  try {
    for (let start = 0; start < tokens.length; start += PREFILL_SLICE) {
      signal?.throwIfAborted();
      await appendTokens(loaded, session, tokens.slice(start, start + PREFILL_SLICE));
    }
  } finally {
    await releaseState(loaded, session);
  }
}

/** A random 32-bit seed from the platform's CSPRNG (for requests that give none). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
