import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HTTPException } from "hono/http-exception";
import { ZodError } from "zod";
import {
  InvalidRequestError,
  ModelUnavailableError,
  QuotaExceededError,
  SessionBusyError,
  SessionNotFoundError,
  ShuttingDownError,
  StateFormatError,
} from "../engine/mod.ts";

/** An OpenAI-style error body, with the request id the answer's `x-request-id` also carries. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null; request_id?: string };
}

/** Builds an OpenAI-style error body. */
export function errorBody(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
) {
  return { error: { message, type, param, code } } satisfies ErrorBody;
}

/** An OpenAI-style error answer for `c`'s request, its request id in the body. */
export function errorJson(
  c: Context,
  status: ContentfulStatusCode,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): Response {
  const body: ErrorBody = errorBody(message, type, param, code);
  const requestId = c.get("requestId") as string | undefined;
  if (requestId) body.error.request_id = requestId;
  return c.json(body, status);
}

/** A client error with an HTTP status (4xx) and an OpenAI error type. */
export class ApiError extends HTTPException {
  /** Builds the error; `param` names the request field at fault, if any. */
  constructor(
    status: 400 | 401 | 404 | 409 | 413 | 415 | 429,
    message: string,
    readonly param: string | null = null,
  ) {
    super(status, { message });
    this.name = "ApiError";
  }
}

/**
 * The one place that maps thrown errors to HTTP responses. Client mistakes are 4xx with a message
 * saying what to fix; anything else is the server's fault: 500 (503 while shutting down) with the
 * request id, logged with it, and no internal detail sent.
 */
export function onError(err: Error, c: Context): Response {
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const param = issue?.path.join(".") || null;
    // A record key's own check (logit_bias: "keys must be token ids") says more than "Invalid key in record".
    const detail = issue?.code === "invalid_key" ? issue.issues[0]?.message ?? issue.message : issue?.message;
    const message = issue ? `Invalid ${param ?? "body"}: ${detail}` : "Invalid request body";
    return errorJson(c, 400, message, "invalid_request_error", param);
  }
  if (err instanceof ApiError) {
    return errorJson(c, err.status, err.message, "invalid_request_error", err.param);
  }
  if (err instanceof InvalidRequestError) {
    return errorJson(c, 400, err.message, "invalid_request_error", err.param);
  }
  if (err instanceof StateFormatError) {
    return errorJson(c, 400, err.message, "invalid_request_error", "state");
  }
  if (err instanceof SessionNotFoundError) {
    return errorJson(c, 404, err.message, "invalid_request_error", "id", "session_not_found");
  }
  if (err instanceof SessionBusyError) {
    return errorJson(c, 409, err.message, "invalid_request_error", "id", "session_busy");
  }
  if (err instanceof ModelUnavailableError) {
    return errorJson(c, 404, err.message, "invalid_request_error", "model", "model_not_found");
  }
  if (err instanceof QuotaExceededError) {
    c.header("Retry-After", String(err.retryAfter));
    return errorJson(c, 429, err.message, "rate_limit_error", null, "quota_exceeded");
  }
  if (err instanceof HTTPException && err.status < 500) {
    return errorJson(c, err.status, err.message, "invalid_request_error");
  }
  const requestId = c.get("requestId") as string | undefined;
  if (err instanceof ShuttingDownError) {
    c.header("Retry-After", "1");
    return errorJson(c, 503, err.message, "server_error", null, "shutting_down");
  }
  // A client that hung up cannot read an answer; its request was cancelled, not failed.
  if ((c.get("hangup") as AbortSignal | undefined)?.aborted) return new Response(null, { status: 499 });
  console.error(`request ${requestId} failed:`, err);
  return errorJson(
    c,
    500,
    `Internal server error (request id ${requestId}): the server failed, not your request; ` +
      "retry, and report the request id if it persists",
    "server_error",
  );
}
