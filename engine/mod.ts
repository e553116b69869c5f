/**
 * The engine: sessions, sampling, generation as an event stream, and the
 * session state blob. Uses models; knows nothing of HTTP.
 *
 * @module
 */

export {
  checkStateBlobPrefix,
  decodeStateBlob,
  encodeStateBlob,
  MAX_SESSION_TOKENS,
  maxStateBlobBytes,
  parseStateDType,
  roundToBf16,
  STATE_BLOB_PREFIX_BYTES,
  type StateDType,
  StateFormatError,
} from "./state_blob.ts";
export {
  type DoneEvent,
  generate,
  type GenerateRequest,
  type GenerationEvent,
  type TokenEvent,
  type TopLogprob,
} from "./generate.ts";
export { mulberry32, mulberry32Step } from "./prng.ts";
export { metrics, registry } from "./metrics.ts";
export { observeGeneration } from "./generation_metrics.ts";
export { type LogitBias, logitBiasOutside } from "./logit_bias.ts";
export { type PromptTokenLogprob, scorePrompt } from "./prompt_logprobs.ts";
export {
  compileResponseFormat,
  type ConstraintSnapshot,
  type Grammar,
  JsonConstraint,
  type ResponseFormat,
} from "./constraint/mod.ts";
export {
  argmax,
  DEFAULT_SAMPLING,
  devicePick,
  logSoftmax,
  newSamplerState,
  recordPick,
  type SamplerState,
  sampleToken,
  type SamplingParams,
  topIds,
} from "./sampler.ts";
export {
  appendTokens,
  newSession,
  prefill,
  randomSeed,
  releaseState,
  type Session,
  syncState,
} from "./session.ts";
export { Scheduler, schedulerOf } from "./scheduler.ts";
export { DEFAULT_STEPS_AHEAD } from "./steps_ahead.ts";
export { StopMatcher } from "./stop_strings.ts";
export { type ChatMessage, type ChatTemplate, chatTemplate, RWKV_CHAT } from "./chat_template.ts";
export {
  InvalidRequestError,
  ModelUnavailableError,
  QuotaExceededError,
  SessionBusyError,
  ShuttingDownError,
} from "./errors.ts";
export { clientPrincipal, keyPrincipal, type Principal } from "./principal.ts";
export type { SessionQuota } from "./quota.ts";
export {
  type SessionGenerateRequest,
  SessionService,
  type SessionServiceOptions,
} from "./session_service.ts";
export { newSessionId } from "./session_access.ts";
export { type SessionMeta, SessionNotFoundError, type StoredEvent } from "../store/types.ts";
