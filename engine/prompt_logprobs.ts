/**
 * Scoring a prompt: the log-probability the model gave each prompt token before it saw it
 * (OpenAI's `echo` with `logprobs`, the usual way to score text). Feeds the prompt one token at
 * a time, so it costs a token-by-token pass instead of a chunked prefill.
 *
 * @module
 */

import type { LoadedModel } from "../models/mod.ts";
import { decodeTokens } from "../tokenizers/mod.ts";
import { logSoftmax, topIds } from "./sampler.ts";
import { appendTokens, releaseState, type Session } from "./session.ts";
import type { TopLogprob } from "./generate.ts";

/** One prompt token and what the model thought of it. */
export interface PromptTokenLogprob {
  /** The token's id. */
  readonly tokenId: number;
  /** The token's text on its own. */
  readonly text: string;
  /** Its log-probability given the tokens before it; null for a first token with nothing before it. */
  readonly logprob: number | null;
  /** The most likely tokens at that point (empty where `logprob` is null). */
  readonly top: readonly TopLogprob[];
}

/**
 * Appends `prompt` to `session` one token at a time, returning each token's logprob and the
 * `topN` most likely alternatives. The session ends as a chunked prefill would leave it (its state
 * synced and its state slot released). Each token is a step of the model's batching scheduler.
 */
export async function scorePrompt(
  loaded: LoadedModel,
  session: Session,
  prompt: readonly number[],
  options: { topN: number; signal?: AbortSignal },
): Promise<PromptTokenLogprob[]> {
  try {
    return await score(loaded, session, prompt, options);
  } finally {
    await releaseState(loaded, session);
  }
}

async function score(
  loaded: LoadedModel,
  session: Session,
  prompt: readonly number[],
  options: { topN: number; signal?: AbortSignal },
): Promise<PromptTokenLogprob[]> {
  const out: PromptTokenLogprob[] = [];
  for (let i = 0; i < prompt.length; i++) {
    options.signal?.throwIfAborted();
    const id = prompt[i];
    const text = decodeTokens(loaded.tokenizer, [id]);
    if (session.logits === undefined) {
      out.push({ tokenId: id, text, logprob: null, top: [] });
    } else {
      const lp = logSoftmax(session.logits);
      const top = topIds(lp, options.topN).map((t) => ({
        tokenId: t,
        text: decodeTokens(loaded.tokenizer, [t]),
        logprob: lp[t],
      }));
      out.push({ tokenId: id, text, logprob: lp[id], top });
    }
    await appendTokens(loaded, session, [id]);
  }
  return out;
}
