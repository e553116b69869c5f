/** A model directory or weight file that cannot be loaded; the message names the file or tensor. */
export class ModelLoadError extends Error {
  /** Builds the error; `cause` keeps the underlying failure, if any. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ModelLoadError";
  }
}
