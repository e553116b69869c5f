import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ZodError } from "zod";
import {
  ModelUnavailableError,
  SessionBusyError,
  SessionNotFoundError,
  StateFormatError,
} from "../engine/mod.ts";
import { ModelLoadError } from "../models/mod.ts";

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
    status: 400 | 401 | 404 | 409 | 413 | 415,
    message: string,
    readonly param: string | null = null,
  ) {
    super(status, { message });
    this.name = "ApiError";
  }
}

/** The one place that maps thrown errors to HTTP responses. */
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
  if (err instanceof RangeError) return c.json(errorBody(err.message, "invalid_request_error"), 400);
  if (err instanceof HTTPException) {
    return c.json(errorBody(err.message, "invalid_request_error"), err.status);
  }
  if (err instanceof ModelLoadError) return c.json(errorBody(err.message, "server_error"), 500);
  console.error(err);
  return c.json(errorBody("Internal server error", "server_error"), 500);
}
