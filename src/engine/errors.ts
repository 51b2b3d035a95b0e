// The engine's errors as typed data: a code that says whose fault it is (the request's, the engine's,
// or a bug), the request field or checkpoint file at fault, and a message. They cross the worker
// boundary as plain `EngineFailure` objects and become HTTP answers in one place
// (src/server/problem.ts), never by matching names.

export const ENGINE_ERROR_CODES = [
  /** An image that does not decode, has an unsupported format, or a shape the model cannot take. */
  "invalid_image",
  /** Images over a pixel limit (one image, or a request's images together). */
  "image_too_large",
  /** The prompt (text and image tokens) is over the server's limit. */
  "prompt_too_long",
  /** The request can never fit the KV budget or the batch's row limit. */
  "over_capacity",
  /** Input the checkpoint cannot take at all (images for a text-only model). */
  "unsupported_input",
  /** Generation settings the engine cannot use (a sampling parameter or seed out of range). */
  "invalid_parameters",
  /** The request was withdrawn (its caller left) before it ran. */
  "cancelled",
  /** The engine is not there: still loading, restarting after a failure, or closed. Retry later. */
  "engine_unavailable",
  /** The engine broke while this request ran (a failed step, a worker that died). Retry later. */
  "engine_failed",
  /** A checkpoint that cannot be loaded (start-up only); `file` and `field` say what to fix. */
  "load_failed",
  /** A bug. */
  "internal",
] as const;

export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

/** What crosses the worker boundary: structured-clone safe, no class identity needed. */
export interface EngineFailure {
  code: EngineErrorCode;
  message: string;
  /** The request field at fault, e.g. `images[1]`; for `load_failed`, the field inside `file`. */
  field?: string;
  /** The checkpoint file at fault (load errors). */
  file?: string;
}

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly field: string | undefined;
  readonly file: string | undefined;

  constructor(code: EngineErrorCode, message: string, at: { field?: string; file?: string } = {}) {
    super(message);
    this.name = "EngineError";
    this.code = code;
    this.field = at.field;
    this.file = at.file;
  }

  static from(failure: EngineFailure): EngineError {
    return new EngineError(failure.code, failure.message, failure);
  }

  toFailure(): EngineFailure {
    return {
      code: this.code,
      message: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.file === undefined ? {} : { file: this.file }),
    };
  }
}

/** Any thrown value as data; anything that is not an EngineError is a bug (`internal`). */
export function toFailure(err: unknown): EngineFailure {
  if (err instanceof EngineError) return err.toFailure();
  const message = err instanceof Error ? err.message : String(err);
  return { code: "internal", message };
}
