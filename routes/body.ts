import type { Context } from "hono";
import { ApiError } from "./errors.ts";

/** Most bytes a JSON request body may have. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The request's JSON body; 413 if it is too large, 400 if it is not JSON. */
export async function readJsonBody(c: Context): Promise<unknown> {
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) throw new ApiError(413, `Request body is over ${MAX_BODY_BYTES} bytes`);
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) throw new ApiError(413, `Request body is over ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, "Request body is not valid JSON");
  }
}
