/**
 * The JSON header of a session state blob: its fields, and their validation
 * against the model the blob is meant for. Blobs may come from clients, so
 * every field's type and range is checked and a StateFormatError names the
 * first bad one. Knows nothing of the binary layout around the header.
 *
 * @module
 */

import type { LoadedModel } from "../models/mod.ts";
import type { SamplerState } from "./sampler.ts";
import { firstInvalidContinuation, sequenceLength } from "../tokenizers/mod.ts";
import { StateFormatError } from "./errors.ts";
import { checkSnapshotShape, type ConstraintSnapshot, MAX_SNAPSHOT_FRAMES } from "./constraint/mod.ts";

export { StateFormatError };

/**
 * Most tokens a saved session may have consumed: 2^48. Far below 2^53, so token
 * positions (the SSE event ids) stay exact integers for any generation that follows.
 */
export const MAX_SESSION_TOKENS = 2 ** 48;

/** Header bytes allowed besides the model id, the state parts and the sampler counts. */
const HEADER_SLACK_BYTES = 64 * 1024;
/** Header bytes allowed for a constraint's automaton state: 32 alternatives of the deepest stacks. */
const CONSTRAINT_BYTES = 32 * MAX_SNAPSHOT_FRAMES * 64;
/** JSON bytes of one sampler count besides its token id: `[`, `,`, a 16-digit count, `]` and `,`. */
const COUNT_ENTRY_BYTES = 20;
/** What to do about a blob that was edited or made elsewhere. */
const RE_EXPORT = "export the state again and send it unchanged";

/**
 * The element type of a blob's state payload: f32 (exact), or bf16 (`STATE_DTYPE=bf16`: half the
 * bytes; the live state is rounded to it at every checkpoint, so a resume is still exact).
 */
export type StateDType = "f32" | "bf16";

/** The state payload types this server reads. */
const STATE_DTYPES: readonly StateDType[] = ["f32", "bf16"];

/**
 * A configured state type (`--state-dtype`, STATE_DTYPE): f32 when empty or absent; a TypeError
 * naming `setting` for anything but f32 and bf16.
 */
export function parseStateDType(value: string | undefined, setting: string): StateDType {
  if (value === undefined || value === "") return "f32";
  if (!STATE_DTYPES.includes(value as StateDType)) {
    throw new TypeError(`${setting} must be f32 or bf16, got "${value}"`);
  }
  return value as StateDType;
}

/** Bytes of one state value in a payload of `dtype`. */
export function stateValueBytes(dtype: StateDType): number {
  return dtype === "bf16" ? 2 : 4;
}

/** The header as encodeStateBlob writes it. */
export interface StateHeader {
  /** The model family. */
  family: string;
  /** The id of the model that wrote it (informative only). */
  model: string;
  /** SHA-256 of the weights the state belongs to. */
  fingerprint: string;
  /** The state payload's element type (logits are always f32). */
  dtype: StateDType;
  /** The state's parts and shapes, in payload order. */
  parts: { name: string; shape: number[] }[];
  /** Tokens consumed so far. */
  tokens: number;
  /** PRNG state and `[tokenId, count]` penalty counters. */
  sampler: { rng: number; counts: [number, number][] };
  /** Bytes of an incomplete UTF-8 character. */
  carry: number[];
  /** Values of state in the payload (each of `dtype`). */
  stateFloats: number;
  /** f32 values of logits after the state (0 or the vocabulary size). */
  logitFloats: number;
  /** A running constrained generation's automaton state (checked against its grammar on resume). */
  constraint?: ConstraintSnapshot;
}

/** A parsed header not yet validated, but for its payload lengths. */
export type UncheckedHeader =
  & Record<string, unknown>
  & Pick<StateHeader, "stateFloats" | "logitFloats" | "dtype">;

/** The parts of a validated header that a session is built from. */
export interface CheckedHeader {
  /** Tokens consumed so far, at most {@linkcode MAX_SESSION_TOKENS}. */
  tokens: number;
  /** The sampler state, counts keyed by token id. */
  sampler: SamplerState;
  /** The detokenizer's carry: a proper prefix of a UTF-8 character, or empty. */
  carry: Uint8Array;
  /** f32 values of logits in the payload (0 or the vocabulary size). */
  logitFloats: number;
  /** The constraint's automaton state, if the header has one. */
  constraint?: ConstraintSnapshot;
}

function fail(field: string, problem: string, todo = RE_EXPORT): never {
  throw new StateFormatError(`State blob field ${field} ${problem}: ${todo}`);
}

/** A value for a message: its JSON, cut short (hostile headers can hold long strings). */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** The most header bytes a blob for `loaded` may have: a generous bound on what the encoder writes. */
export function maxStateHeaderBytes(loaded: LoadedModel): number {
  const info = loaded.model.info;
  const named = new TextEncoder().encode(JSON.stringify({ model: loaded.id, parts: info.stateParts })).length;
  return HEADER_SLACK_BYTES + CONSTRAINT_BYTES + named +
    info.vocabSize * (String(info.vocabSize).length + COUNT_ENTRY_BYTES);
}

/**
 * Checks that the parsed header is an object whose payload lengths are whole numbers and whose
 * payload type is known, so the blob's length and checksum can be checked before anything else.
 */
export function checkPayloadLengths(value: unknown): UncheckedHeader {
  if (!isObject(value)) {
    throw new StateFormatError(`State blob header is not an object (it is ${show(value)}): ${RE_EXPORT}`);
  }
  for (const field of ["stateFloats", "logitFloats"]) {
    if (!isCount(value[field])) fail(field, `is ${show(value[field])}, not a whole number of floats`);
  }
  if (typeof value.dtype !== "string") fail("dtype", `is ${show(value.dtype)}, not a string`);
  if (!STATE_DTYPES.includes(value.dtype as StateDType)) {
    fail("dtype", `is ${show(value.dtype)}, not one of ${STATE_DTYPES.map((d) => `"${d}"`).join(", ")}`);
  }
  return value as UncheckedHeader;
}

/** Validates every field of `h` against `loaded`; throws a StateFormatError naming the first bad one. */
export function checkHeader(loaded: LoadedModel, h: UncheckedHeader): CheckedHeader {
  const info = loaded.model.info;
  for (const field of ["family", "model", "fingerprint", "dtype"] as const) {
    if (typeof h[field] !== "string") fail(field, `is ${show(h[field])}, not a string`);
  }
  const elsewhere = "load it into a session of the model that saved it";
  if (h.family !== info.family) {
    fail("family", `is ${show(h.family)}, this model is "${info.family}"`, elsewhere);
  }
  if (h.fingerprint !== loaded.fingerprint) {
    fail("fingerprint", `belongs to another model (${show(h.model)}), not "${loaded.id}"`, elsewhere);
  }
  checkParts(loaded, h.parts);
  if (h.stateFloats !== info.stateSize) {
    fail("stateFloats", `is ${h.stateFloats}, this model's state has ${info.stateSize}`);
  }
  if (h.logitFloats !== 0 && h.logitFloats !== info.vocabSize) {
    fail("logitFloats", `is ${h.logitFloats}, expected 0 or the vocabulary size ${info.vocabSize}`);
  }
  if (!isCount(h.tokens)) fail("tokens", `is ${show(h.tokens)}, not a whole number of tokens`);
  if (h.tokens > MAX_SESSION_TOKENS) {
    fail(
      "tokens",
      `is ${h.tokens}, over the ${MAX_SESSION_TOKENS} a session may hold`,
      "start a new session",
    );
  }
  return {
    tokens: h.tokens,
    sampler: checkSampler(h.sampler, info.vocabSize),
    carry: checkCarry(h.carry),
    logitFloats: h.logitFloats,
    ...(h.constraint === undefined ? {} : { constraint: checkSnapshotShape(h.constraint) }),
  };
}

function checkParts(loaded: LoadedModel, parts: unknown): void {
  const want = loaded.model.info.stateParts;
  if (!Array.isArray(parts)) fail("parts", `is ${show(parts)}, not an array of {name, shape}`);
  parts.forEach((got: unknown, i) => {
    if (
      !isObject(got) || typeof got.name !== "string" || !Array.isArray(got.shape) || !got.shape.every(isCount)
    ) {
      fail(`parts[${i}]`, `is ${show(got)}, not {name: string, shape: integer[]}`);
    }
  });
  if (parts.length !== want.length) {
    fail("parts", `lists ${parts.length} parts, this model's state has ${want.length}`);
  }
  want.forEach((p, i) => {
    const got = parts[i] as { name: string; shape: number[] };
    if (
      got.name !== p.name || got.shape.length !== p.shape.length || got.shape.some((d, k) => d !== p.shape[k])
    ) {
      fail(`parts[${i}]`, `is ${show(got.name)} [${got.shape}], this model expects "${p.name}" [${p.shape}]`);
    }
  });
}

function checkSampler(sampler: unknown, vocabSize: number): SamplerState {
  if (!isObject(sampler)) fail("sampler", `is ${show(sampler)}, not an object {rng, counts}`);
  const { rng, counts } = sampler;
  if (!Number.isInteger(rng) || (rng as number) < 0 || (rng as number) >= 2 ** 32) {
    fail("sampler.rng", `is ${show(rng)}, not a 32-bit unsigned integer`);
  }
  if (!Array.isArray(counts)) fail("sampler.counts", `is ${show(counts)}, not an array of [tokenId, count]`);
  if (counts.length > vocabSize) {
    fail(
      "sampler.counts",
      `has ${counts.length} entries, more than the ${vocabSize} tokens of the vocabulary`,
    );
  }
  const map = new Map<number, number>();
  for (let i = 0; i < counts.length; i++) {
    const entry: unknown = counts[i];
    if (!Array.isArray(entry) || entry.length !== 2) {
      fail(`sampler.counts[${i}]`, `is ${show(entry)}, not a [tokenId, count] pair`);
    }
    const [id, n] = entry;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      fail(`sampler.counts[${i}]`, `has token id ${show(id)}, outside the vocabulary 0..${vocabSize - 1}`);
    }
    if (!Number.isSafeInteger(n) || n < 1) {
      fail(`sampler.counts[${i}]`, `has count ${show(n)}, not a positive integer`);
    }
    if (map.has(id)) fail(`sampler.counts[${i}]`, `repeats token id ${id}; each token may be counted once`);
    map.set(id, n);
  }
  return { rng: (rng as number) >>> 0, counts: map };
}

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, "0")}`;
}

function checkCarry(carry: unknown): Uint8Array {
  if (!Array.isArray(carry) || carry.length > 3) {
    fail("carry", `is ${show(carry)}, not an array of at most 3 bytes`);
  }
  carry.forEach((b: unknown, i) => {
    if (!Number.isInteger(b) || (b as number) < 0 || (b as number) > 255) {
      fail(`carry[${i}]`, `is ${show(b)}, not a byte (0..255)`);
    }
  });
  if (carry.length === 0) return new Uint8Array(0);
  const lead: number = carry[0];
  const need = sequenceLength(lead);
  if (need < 2) fail("carry[0]", `is ${hex(lead)}, not the lead byte of a multi-byte UTF-8 character`);
  if (carry.length >= need) {
    fail("carry", `holds ${carry.length} bytes, a whole character and not a partial one`);
  }
  const bad = firstInvalidContinuation(carry);
  if (bad >= 0) {
    fail(`carry[${bad}]`, `is ${hex(carry[bad])}, which cannot follow ${hex(lead)} in a UTF-8 character`);
  }
  return Uint8Array.from(carry);
}
