/**
 * The session blob: our own versioned binary format for a session's state.
 *
 *   offset 0   8 bytes  magic "RECSTATE"
 *          8   u32 LE   format version (2; version 1 blobs, which have no constraint, still load)
 *         12   u32 LE   header length H
 *         16   H bytes  header, UTF-8 JSON: family, model id and fingerprint, state parts
 *                       and their shapes, the state's dtype ("f32" or "bf16"), token
 *                       count, sampler state,
 *                       detokenizer carry, payload lengths, and (version 2, while a
 *                       constrained generation runs) the constraint's automaton state
 *     16 + H   payload  state (f32 or bf16 LE), then logits (f32 LE, may be empty)
 *        end   u32 LE   CRC-32 of everything before it
 *
 * Reading validates every field against the model it is meant for and throws
 * a StateFormatError that names the field. Blobs may come from clients: sizes are
 * bounded per model ({@linkcode maxStateBlobBytes}), an oversized header is refused
 * from the first 16 bytes ({@linkcode checkStateBlobPrefix}), and state or logits
 * holding NaN or Infinity are refused.
 *
 * @module
 */

import type { LoadedModel, StatePart } from "../models/mod.ts";
import { crc32 } from "./crc32.ts";
import type { Session } from "./session.ts";
import {
  checkHeader,
  checkPayloadLengths,
  maxStateHeaderBytes,
  type StateDType,
  StateFormatError,
  type StateHeader,
  stateValueBytes,
} from "./state_header.ts";

export { MAX_SESSION_TOKENS, parseStateDType, type StateDType, StateFormatError } from "./state_header.ts";

const MAGIC = "RECSTATE";
const VERSION = 2;
/** Versions this server reads. */
const READABLE_VERSIONS = [1, 2];
/** Bytes before the header: magic, version and header length. */
export const STATE_BLOB_PREFIX_BYTES = 16;
/** What to do about a blob that was edited or made elsewhere. */
const RE_EXPORT = "export the state again and send it unchanged";
/** What to do about a state that holds NaN or Infinity. */
const UNUSABLE = "the state is unusable; start a new session or send an earlier export";

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// f32 values as little-endian bytes: a byte copy on little-endian hosts.
function writeF32(out: Uint8Array, at: number, values: Float32Array): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset);
  for (let i = 0; i < values.length; i++) view.setFloat32(at + 4 * i, values[i], true);
}

function readF32(blob: Uint8Array, at: number, into: Float32Array): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(
      blob.subarray(at, at + into.byteLength),
    );
    return;
  }
  const view = new DataView(blob.buffer, blob.byteOffset);
  for (let i = 0; i < into.length; i++) into[i] = view.getFloat32(at + 4 * i, true);
}

// bf16 values as little-endian bytes: the high half of each f32 rounded to nearest, ties to even.
function writeBf16(out: Uint8Array, at: number, values: Float32Array): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const b = bf16Bits(bits[i]);
    out[at + 2 * i] = b & 0xff;
    out[at + 2 * i + 1] = b >>> 8;
  }
}

function readBf16(blob: Uint8Array, at: number, into: Float32Array): void {
  const bits = new Uint32Array(into.buffer, into.byteOffset, into.length);
  for (let i = 0; i < into.length; i++) bits[i] = (blob[at + 2 * i] | (blob[at + 2 * i + 1] << 8)) << 16;
}

// The bf16 nearest to an f32 given by its bits (ties to even; NaN stays NaN).
function bf16Bits(f32: number): number {
  if ((f32 & 0x7fffffff) > 0x7f800000) return (f32 >>> 16) | 0x40;
  return ((f32 + 0x7fff + ((f32 >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Rounds `values` in place to the nearest bf16 (what a bf16 blob stores), so the state a generation
 * goes on with is the one a resume from its checkpoint would load.
 */
export function roundToBf16(values: Float32Array): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) bits[i] = bf16Bits(bits[i]) << 16;
}

/** Serializes a session of `loaded`, its state as `dtype` (default f32; bf16 rounds it to nearest). */
export function encodeStateBlob(
  loaded: LoadedModel,
  session: Session,
  dtype: StateDType = "f32",
): Uint8Array {
  const info = loaded.model.info;
  const logits = session.logits ?? new Float32Array(0);
  const header: StateHeader = {
    family: info.family,
    model: loaded.id,
    fingerprint: loaded.fingerprint,
    dtype,
    parts: info.stateParts.map((p) => ({ name: p.name, shape: [...p.shape] })),
    tokens: session.tokens,
    sampler: { rng: session.sampler.rng, counts: [...session.sampler.counts] },
    carry: [...session.carry],
    stateFloats: session.state.data.length,
    logitFloats: logits.length,
    ...(session.constraint ? { constraint: session.constraint } : {}),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const stateBytes = stateValueBytes(dtype) * session.state.data.length;
  const payload = stateBytes + 4 * logits.length;
  const out = new Uint8Array(16 + json.length + payload + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, json.length, true);
  out.set(json, 16);
  let at = 16 + json.length;
  (dtype === "bf16" ? writeBf16 : writeF32)(out, at, session.state.data);
  at += stateBytes;
  writeF32(out, at, logits);
  at += logits.length * 4;
  view.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/**
 * The largest valid state blob for `loaded`, in bytes: prefix, a generous bound on
 * the header (room for a count of every token in the vocabulary), state, logits and
 * checksum. A longer upload can be refused without reading it.
 */
export function maxStateBlobBytes(loaded: LoadedModel): number {
  const info = loaded.model.info;
  return STATE_BLOB_PREFIX_BYTES + maxStateHeaderBytes(loaded) + 4 * (info.stateSize + info.vocabSize) + 4;
}

/**
 * Checks a blob's first {@linkcode STATE_BLOB_PREFIX_BYTES} bytes (magic, version,
 * header length) against `loaded`, so an upload can be refused before its body is
 * read. Returns the most bytes a valid blob with this prefix can have; throws a
 * StateFormatError if no valid blob starts this way. Pass the whole blob if it is shorter.
 */
export function checkStateBlobPrefix(loaded: LoadedModel, prefix: Uint8Array): number {
  if (prefix.length < STATE_BLOB_PREFIX_BYTES) {
    throw new StateFormatError(
      `State blob is truncated: ${prefix.length} bytes is shorter than any header: ${RE_EXPORT}`,
    );
  }
  if (new TextDecoder().decode(prefix.subarray(0, 8)) !== MAGIC) {
    throw new StateFormatError("Not a state blob: magic bytes are wrong; send a blob this server exported");
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const version = view.getUint32(8, true);
  if (!READABLE_VERSIONS.includes(version)) {
    throw new StateFormatError(
      `State blob version ${version} is not supported (this server reads ${
        READABLE_VERSIONS.join(" and ")
      }); export it again from this server`,
    );
  }
  const headerLength = view.getUint32(12, true);
  const limit = maxStateHeaderBytes(loaded);
  if (headerLength > limit) {
    throw new StateFormatError(
      `State blob header length is ${headerLength} bytes, over the ${limit} a header for "${loaded.id}" ` +
        `may have: ${RE_EXPORT}`,
    );
  }
  const info = loaded.model.info;
  return STATE_BLOB_PREFIX_BYTES + headerLength + 4 * (info.stateSize + info.vocabSize) + 4;
}

/** Reads a blob made by {@linkcode encodeStateBlob} for `loaded`; throws StateFormatError if it is not one. */
export function decodeStateBlob(loaded: LoadedModel, blob: Uint8Array): Session {
  const fail = (msg: string): never => {
    throw new StateFormatError(msg);
  };
  if (blob.length < 20) fail(`State blob is truncated: ${blob.length} bytes is shorter than any header`);
  const most = checkStateBlobPrefix(loaded, blob);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const headerLength = view.getUint32(12, true);
  if (16 + headerLength + 4 > blob.length) fail("State blob is truncated: header runs past the end");
  if (blob.length > most) {
    fail(`State blob is ${blob.length} bytes, more than any state of "${loaded.id}" (${most}): ${RE_EXPORT}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(blob.subarray(16, 16 + headerLength)),
    );
  } catch {
    return fail("State blob header is not valid JSON");
  }
  const h = checkPayloadLengths(parsed);
  const stateBytes = stateValueBytes(h.dtype) * h.stateFloats;
  const expectedLength = 16 + headerLength + stateBytes + 4 * h.logitFloats + 4;
  if (!Number.isSafeInteger(expectedLength)) fail("State blob header field payload lengths are invalid");
  if (blob.length < expectedLength) {
    fail(`State blob is truncated: ${blob.length} bytes, the header promises ${expectedLength}`);
  }
  if (blob.length > expectedLength) fail(`State blob has ${blob.length - expectedLength} trailing bytes`);
  const end = expectedLength - 4;
  if (crc32(blob.subarray(0, end)) !== view.getUint32(end, true)) {
    fail("State blob checksum does not match: the blob is corrupted");
  }
  const checked = checkHeader(loaded, h);

  const info = loaded.model.info;
  const state = loaded.model.newState();
  let at = 16 + headerLength;
  (h.dtype === "bf16" ? readBf16 : readF32)(blob, at, state.data);
  at += stateBytes;
  const badState = firstNonFinite(state.data);
  if (badState >= 0) {
    fail(
      `State blob field state.${elementName(info.stateParts, badState)} is ${state.data[badState]} ` +
        `(state float ${badState}): ${UNUSABLE}`,
    );
  }
  let logits: Float32Array | undefined;
  if (checked.logitFloats > 0) {
    logits = new Float32Array(checked.logitFloats);
    readF32(blob, at, logits);
    const badLogit = firstNonFinite(logits);
    if (badLogit >= 0) {
      fail(`State blob field logits[${badLogit}] is ${logits[badLogit]}: ${UNUSABLE}`);
    }
  }
  return {
    modelId: loaded.id,
    fingerprint: loaded.fingerprint,
    state,
    logits,
    tokens: checked.tokens,
    sampler: checked.sampler,
    carry: checked.carry,
    ...(checked.constraint ? { constraint: checked.constraint } : {}),
  };
}

/** Index of the first NaN or ±Infinity in `values`, or -1. One pass, no allocation. */
function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) return i; // NaN - NaN and ∞ - ∞ are NaN
  }
  return -1;
}

/** Flat state index `i` as the part and element it falls in, e.g. `wkv[1][0][2][3]`. */
function elementName(parts: readonly StatePart[], i: number): string {
  let offset = 0;
  for (const p of parts) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (i < offset + size) {
      let rest = i - offset;
      const index = new Array<number>(p.shape.length);
      for (let d = p.shape.length - 1; d >= 0; d--) {
        index[d] = rest % p.shape[d];
        rest = Math.floor(rest / p.shape[d]);
      }
      return p.name + index.map((k) => `[${k}]`).join("");
    }
    offset += size;
  }
  return `[${i}]`;
}
