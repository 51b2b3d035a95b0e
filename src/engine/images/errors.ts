// Errors raised while turning request image bytes into model inputs; `field` names the request
// field (e.g. "images[2]") when the caller knows it, so the server can name it in its answer.

import { EngineError, type EngineFailure } from "../errors.js";

export class ImageDecodeError extends EngineError {
  constructor(message: string, field?: string) {
    super("invalid_image", field === undefined ? message : `${field}: ${message}`, field ? { field } : {});
    this.name = "ImageDecodeError";
  }
}

/** The image decoded but its shape cannot be fed to the model (e.g. aspect ratio over 200, like HF). */
export class ImageSizeError extends EngineError {
  constructor(message: string, field?: string) {
    super("invalid_image", field === undefined ? message : `${field}: ${message}`, field ? { field } : {});
    this.name = "ImageSizeError";
  }
}

/** Images over a pixel limit: one image's, or a request's images together. */
export class ImagePixelsError extends EngineError {
  constructor(message: string, field: string) {
    super("image_too_large", `${field}: ${message}`, { field });
    this.name = "ImagePixelsError";
  }
}

const IMAGE_ERRORS: Record<string, { prototype: EngineError }> = {
  ImageDecodeError,
  ImageSizeError,
  ImagePixelsError,
};

/**
 * An error thrown in an image pool thread, rebuilt from the plain data that crossed the boundary:
 * the same class (by name), code, message and field; anything else as a plain EngineError.
 */
export function reviveImageError(name: string, failure: EngineFailure): EngineError {
  const error = EngineError.from(failure);
  const cls = IMAGE_ERRORS[name];
  if (cls) {
    // The constructors prefix the field to the message; the failure's message already carries it.
    Object.setPrototypeOf(error, cls.prototype);
    error.name = name;
  }
  return error;
}
