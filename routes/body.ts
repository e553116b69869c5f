import type { Context } from "hono";
import { ApiError } from "./errors.ts";

/** Most bytes a JSON request body may have. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The request body, read up to `limit` bytes: 413 as soon as it is longer (declared or streamed). */
export async function readBounded(c: Context, limit: number): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit) throw new ApiError(413, `Request body is over ${limit} bytes`);
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw new ApiError(413, `Request body is over ${limit} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The request's JSON body; 413 if it is too large, 400 if it is not JSON. */
export async function readJsonBody(c: Context): Promise<unknown> {
  const bytes = await readBounded(c, MAX_BODY_BYTES);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError(400, "Request body is not valid JSON");
  }
}
