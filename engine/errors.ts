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
