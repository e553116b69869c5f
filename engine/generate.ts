/**
 * One generation on a session: append the prompt, then sample, detokenize and
 * stop-check token by token, as an async stream of events. Routes only adapt
 * these events to SSE or JSON.
 *
 * @module
 */

import type { StopSignal } from "./stop_flag.ts";
import type { LoadedModel } from "../models/mod.ts";
import { decodeTokens, Utf8Stream } from "../tokenizers/mod.ts";
import {
  devicePick,
  logSoftmax,
  plainGreedy,
  recordPick,
  sampleToken,
  type SamplingParams,
  topIds,
} from "./sampler.ts";
import { InvalidRequestError } from "./errors.ts";
import { appendPicked, appendTokens, prefill, releaseState, type Session } from "./session.ts";
import { StopMatcher } from "./stop_strings.ts";
import { type Grammar, openConstraint } from "./constraint/mod.ts";

/** What to generate. */
export interface GenerateRequest {
  /** Token ids appended to the session before generating (may be empty if the session has tokens). */
  readonly prompt: readonly number[];
  /** Most tokens to generate. */
  readonly maxTokens: number;
  /** How to pick tokens. */
  readonly sampling: SamplingParams;
  /** Generation ends before the first occurrence of any of these; the stop text is not emitted. */
  readonly stop?: readonly string[];
  /** Generation ends after any of these ids (the id's text is not emitted). */
  readonly stopTokenIds?: readonly number[];
  /** Keep going past the end-of-text token. */
  readonly ignoreEos?: boolean;
  /** Report the chosen token's logprob and this many top alternatives (0: logprob only). */
  readonly logprobs?: number;
  /** Emit an incomplete trailing character as U+FFFD at the end instead of keeping it in the session. */
  readonly flushAtEnd?: boolean;
  /** Text a stop-string check was holding when this generation was checkpointed (resuming one). */
  readonly heldText?: string;
  /** Stops the generation (prefill included) at the next token or slice, throwing the signal's reason. */
  readonly signal?: StopSignal;
  /** Ends the generation before its next token, as done with finish reason "cancelled" (a user's stop). */
  readonly cancel?: { readonly cancelled: boolean };
  /** Structured output: only tokens that keep the text a valid prefix of this grammar are sampled. */
  readonly grammar?: Grammar;
}

/** One alternative and its log-probability. */
export interface TopLogprob {
  /** The token's id. */
  readonly tokenId: number;
  /** Text (see the type's description). */
  readonly text: string;
  /** Natural-log probability under the unmodified distribution. */
  readonly logprob: number;
}

/** A generated token. `text` is what became safe to show (may be empty while a character or stop string is pending). */
export interface TokenEvent {
  /** Event kind. */
  readonly type: "token";
  /** The token's id. */
  readonly tokenId: number;
  /** The token's position in the session (0-based). */
  readonly position: number;
  /** Text (see the type's description). */
  readonly text: string;
  /** The chosen token's log-probability, when logprobs were asked for. */
  readonly logprob?: number;
  /** The most likely alternatives, when logprobs were asked for. */
  readonly top?: readonly TopLogprob[];
  /** Text held back after this token (it may begin a stop string); saved with checkpoints. */
  readonly heldText: string;
}

/** The end of a generation. */
export interface DoneEvent {
  /** Event kind. */
  readonly type: "done";
  /**
   * "stop": a stop string or token, or a structured output's value is complete; "length": max_tokens
   * reached; "cancelled": stopped by its user (a session's cancel).
   */
  readonly finishReason: "stop" | "length" | "cancelled";
  /** Text released at the end (held for a stop-string check or flushed); usually empty. */
  readonly text: string;
  /** Token counts of this generation. */
  readonly usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

/** What a generation yields. */
export type GenerationEvent = TokenEvent | DoneEvent;

/**
 * Runs one generation; the session is updated as tokens are produced. Each token is fed through the
 * model's batching scheduler, so generations running at once share steps; the session's state slot
 * is released (and `session.state` synced) when the generation ends, however it ends.
 */
export async function* generate(
  loaded: LoadedModel,
  session: Session,
  req: GenerateRequest,
): AsyncGenerator<GenerationEvent> {
  if (req.prompt.length === 0 && session.logits === undefined) {
    throw new InvalidRequestError(
      "The prompt is empty and the session has no tokens: send some text to start from",
      "prompt",
    );
  }
  await prefill(loaded, session, req.prompt, req.signal);
  try {
    yield* decode(loaded, session, req);
  } finally {
    await releaseState(loaded, session);
  }
}

async function* decode(
  loaded: LoadedModel,
  session: Session,
  req: GenerateRequest,
): AsyncGenerator<GenerationEvent> {
  const tokenizer = loaded.tokenizer;
  const utf8 = new Utf8Stream(session.carry);
  const stops = new StopMatcher(req.stop ?? [], req.heldText);
  const stopIds = new Set(req.stopTokenIds ?? []);
  if (!req.ignoreEos && tokenizer.endOfText !== undefined) stopIds.add(tokenizer.endOfText);
  let generated = 0;
  let finishReason: DoneEvent["finishReason"] = "length";
  // Structured output (engine/constraint): disallowed logits masked before sampling, advanced after.
  const constraint = req.grammar && openConstraint(req.grammar, tokenizer, session, req.ignoreEos);
  // Complete already: resumed from a checkpoint taken as the value ended, so end as that run did.
  let valueComplete = constraint?.complete ?? false;
  if (valueComplete) finishReason = "stop";
  // Nothing that needs the logits, on a GPU: the backend picks each next token as sampleToken would
  // (the draw's uniform and the penalties' counts handed in) and only its id is read back; the logits
  // stay on the GPU until a checkpoint or the end syncs them. Steps may run ahead, whatever the rule.
  const onDevice = !constraint && req.logprobs === undefined && loaded.model.backend.sync === undefined;
  const plain = plainGreedy(req.sampling);
  let picked: number | undefined;
  while (!valueComplete && generated < req.maxTokens) {
    req.signal?.throwIfAborted();
    if (req.cancel?.cancelled) {
      finishReason = "cancelled";
      break;
    }
    let tokenId: number;
    if (picked !== undefined) {
      tokenId = picked;
      recordPick(session.sampler, req.sampling, tokenId);
    } else {
      const choices = constraint ? constraint.mask(session.logits!) : session.logits!;
      if (!choices) {
        finishReason = "stop";
        valueComplete = true;
        break;
      }
      tokenId = sampleToken(choices, req.sampling, session.sampler);
    }
    const position = session.tokens;
    let logprob: number | undefined;
    let top: TopLogprob[] | undefined;
    if (req.logprobs !== undefined) {
      const lp = logSoftmax(session.logits!);
      logprob = lp[tokenId];
      top = topIds(lp, req.logprobs).map((id) => ({
        tokenId: id,
        text: tokenText(loaded, id),
        logprob: lp[id],
      }));
    }
    generated++;
    // On the device, the steps of the tokens max_tokens leaves may be queued before this pick lands
    // (engine/scheduler.ts: what ends the generation early undoes them before the state is saved).
    if (onDevice) {
      // The pick's uniform is the PRNG's next value, taken (recordPick) only if the pick is used; so
      // are its counts (the device counts the picks of steps run ahead; engine/steps_ahead.ts).
      const ahead = req.maxTokens - generated;
      const options = plain
        ? { ahead }
        : { pick: devicePick(req.sampling, session.sampler), ahead, rng: session.sampler.rng };
      picked = await appendPicked(loaded, session, [tokenId], options);
    } else await appendTokens(loaded, session, [tokenId]);
    if (stopIds.has(tokenId)) {
      finishReason = "stop";
      yield { type: "token", tokenId, position, text: "", logprob, top, heldText: stops.held };
      break;
    }
    if (constraint) {
      constraint.advance(tokenId);
      session.constraint = constraint.snapshot();
    }
    const released = stops.push(utf8.push(tokenizer.tokenBytes(tokenId)));
    session.carry = utf8.carry;
    yield { type: "token", tokenId, position, text: released.text, logprob, top, heldText: stops.held };
    if (released.stopped) {
      finishReason = "stop";
      break;
    }
    if (constraint?.complete) {
      finishReason = "stop";
      valueComplete = true;
      break;
    }
  }
  let text = finishReason !== "stop" || valueComplete ? stops.flush() : "";
  session.constraint = undefined;
  if (req.flushAtEnd) {
    text += utf8.flush();
    session.carry = utf8.carry;
  }
  yield {
    type: "done",
    finishReason,
    text,
    usage: {
      promptTokens: req.prompt.length,
      completionTokens: generated,
      totalTokens: req.prompt.length + generated,
    },
  };
}

function tokenText(loaded: LoadedModel, id: number): string {
  return decodeTokens(loaded.tokenizer, [id]);
}
