/**
 * The engine: sessions, sampling, generation as an event stream, and the
 * session state blob. Uses models; knows nothing of HTTP.
 *
 * @module
 */

export { decodeStateBlob, encodeStateBlob, StateFormatError } from "./state_blob.ts";
export {
  type DoneEvent,
  generate,
  type GenerateRequest,
  type GenerationEvent,
  type TokenEvent,
  type TopLogprob,
} from "./generate.ts";
export { mulberry32, mulberry32Step } from "./prng.ts";
export {
  argmax,
  DEFAULT_SAMPLING,
  logSoftmax,
  newSamplerState,
  type SamplerState,
  sampleToken,
  type SamplingParams,
  topIds,
} from "./sampler.ts";
export { appendTokens, newSession, randomSeed, type Session } from "./session.ts";
export { StopMatcher } from "./stop_strings.ts";
export { type ChatMessage, type ChatTemplate, chatTemplate, RWKV_CHAT } from "./chat_template.ts";
export { ModelUnavailableError, SessionBusyError } from "./errors.ts";
export {
  newSessionId,
  type SessionGenerateRequest,
  SessionService,
  type SessionServiceOptions,
} from "./session_service.ts";
export { type SessionMeta, SessionNotFoundError, type StoredEvent } from "../store/mod.ts";
