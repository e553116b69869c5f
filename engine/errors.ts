/** A second generation asked for on a session that is generating (HTTP 409). */
export class SessionBusyError extends Error {
  /** Builds the error for session `id`. */
  constructor(id: string) {
    super(
      `Session ${id} is generating: wait for it to finish, or follow it with GET /v1/sessions/${id}/stream`,
    );
    this.name = "SessionBusyError";
  }
}

/** A session that belongs to a model this server does not serve. */
export class ModelUnavailableError extends Error {
  /** Builds the error naming the model. */
  constructor(model: string) {
    super(`Model "${model}" is not served here; GET /v1/models lists the models`);
    this.name = "ModelUnavailableError";
  }
}

/** A request the engine refuses as the client's mistake (HTTP 400); the message says what to send instead. */
export class InvalidRequestError extends Error {
  /** Builds the error; `param` names the request field at fault, if any. */
  constructor(message: string, readonly param: string | null = null) {
    super(message);
    this.name = "InvalidRequestError";
  }
}

/** A principal over one of its quotas (HTTP 429); `retryAfter` says when to try again, in seconds. */
export class QuotaExceededError extends Error {
  /** Builds the error; `retryAfter` is in whole seconds. */
  constructor(message: string, readonly retryAfter: number) {
    super(message);
    this.name = "QuotaExceededError";
  }
}

/** The server is stopping and cut this stream (the generation resumes on the next instance asked). */
export class ShuttingDownError extends Error {
  /** Builds the error. */
  constructor() {
    super("Server is shutting down: reconnect with Last-Event-ID to resume on another instance");
    this.name = "ShuttingDownError";
  }
}

/** A state blob that is not a valid state for this model; the message says which field and why. */
export class StateFormatError extends Error {
  /** Builds the error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateFormatError";
  }
}
