import type { Context } from "hono";
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

/** An OpenAI-style error body. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
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
    const message = issue ? `Invalid ${param ?? "body"}: ${issue.message}` : "Invalid request body";
    return c.json(errorBody(message, "invalid_request_error", param), 400);
  }
  if (err instanceof ApiError) {
    return c.json(errorBody(err.message, "invalid_request_error", err.param), err.status);
  }
  if (err instanceof InvalidRequestError) {
    return c.json(errorBody(err.message, "invalid_request_error", err.param), 400);
  }
  if (err instanceof StateFormatError) {
    return c.json(errorBody(err.message, "invalid_request_error", "state"), 400);
  }
  if (err instanceof SessionNotFoundError) {
    return c.json(errorBody(err.message, "invalid_request_error", "id", "session_not_found"), 404);
  }
  if (err instanceof SessionBusyError) {
    return c.json(errorBody(err.message, "invalid_request_error", "id", "session_busy"), 409);
  }
  if (err instanceof ModelUnavailableError) {
    return c.json(errorBody(err.message, "invalid_request_error", "model", "model_not_found"), 404);
  }
  if (err instanceof QuotaExceededError) {
    c.header("Retry-After", String(err.retryAfter));
    return c.json(errorBody(err.message, "rate_limit_error", null, "quota_exceeded"), 429);
  }
  if (err instanceof HTTPException && err.status < 500) {
    return c.json(errorBody(err.message, "invalid_request_error"), err.status);
  }
  const requestId = c.get("requestId") as string | undefined;
  if (err instanceof ShuttingDownError) {
    c.header("Retry-After", "1");
    return c.json(errorBody(err.message, "server_error", null, "shutting_down"), 503);
  }
  // A client that hung up cannot read an answer; its request was cancelled, not failed.
  if ((c.get("hangup") as AbortSignal | undefined)?.aborted) return new Response(null, { status: 499 });
  console.error(`request ${requestId} failed:`, err);
  return c.json(
    errorBody(
      `Internal server error (request id ${requestId}): the server failed, not your request; ` +
        "retry, and report the request id if it persists",
      "server_error",
    ),
    500,
  );
}
