import type { Context } from "hono";
import { ApiError } from "./errors.ts";

/** Most bytes a JSON request body may have. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Deepest a JSON body may nest, so what walks it recursively (zod, the schema compiler) keeps off the stack's end. */
export const MAX_JSON_DEPTH = 128;

/** Options of {@linkcode readBounded}. */
export interface ReadBoundedOptions {
  /** Called once with the body's first `prefixBytes` bytes (or all of a shorter body), before the rest is read. */
  readonly checkPrefix?: (prefix: Uint8Array) => void;
  /** How many bytes `checkPrefix` needs. */
  readonly prefixBytes?: number;
}

/**
 * The request body, read up to `limit` bytes: 413 as soon as it is longer (declared or streamed).
 * A `checkPrefix` that throws stops the read there, so a hostile upload is refused on its header.
 */
export async function readBounded(
  c: Context,
  limit: number,
  options: ReadBoundedOptions = {},
): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit) throw new ApiError(413, `Request body is over ${limit} bytes`);
  const body = c.req.raw.body;
  const { checkPrefix, prefixBytes = 0 } = options;
  if (!body) {
    checkPrefix?.(new Uint8Array(0));
    return new Uint8Array(0);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  let checked = !checkPrefix;
  const reader = body.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) throw new ApiError(413, `Request body is over ${limit} bytes`);
      parts.push(value);
      if (!checked && total >= prefixBytes) {
        checked = true;
        checkPrefix!(concat(parts, total).subarray(0, prefixBytes));
      }
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  }
  const out = concat(parts, total);
  if (!checked) checkPrefix!(out);
  return out;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  parts.splice(0, parts.length, out);
  return out;
}

/** Whether the request declares a body of media type `type` (parameters such as charset allowed). */
export function hasMediaType(c: Context, type: string): boolean {
  const declared = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  return declared === type;
}

/**
 * The request's JSON body: 415 unless it is declared `application/json` (so a cross-site form or
 * `text/plain` post cannot drive the server), 413 if it is too large, 400 if it is not JSON or
 * nests deeper than {@linkcode MAX_JSON_DEPTH}.
 * Object fields set to `null` are dropped (see {@linkcode withoutNulls}).
 */
export async function readJsonBody(c: Context): Promise<unknown> {
  if (!hasMediaType(c, "application/json")) {
    throw new ApiError(415, "Send the request body as JSON with Content-Type: application/json");
  }
  const bytes = await readBounded(c, MAX_BODY_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError(400, "Request body is not valid JSON");
  }
  return withoutNulls(value);
}

/**
 * A JSON body with every `null` object field removed (recursively, arrays left as they are):
 * OpenAI clients send `"n": null` or `"logprobs": null` to mean "not set". Null array items stay.
 * 400 past {@linkcode MAX_JSON_DEPTH} levels.
 */
export function withoutNulls(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_JSON_DEPTH) {
    throw new ApiError(400, `Request body nests deeper than ${MAX_JSON_DEPTH} arrays or objects; flatten it`);
  }
  if (Array.isArray(value)) return value.map((v) => withoutNulls(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNulls(v, depth + 1);
  return out;
}
