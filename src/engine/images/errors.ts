// Errors raised while turning request image bytes into model inputs; `field` names the request
// field (e.g. "images[2]") when the caller knows it, so the server can name it in its answer.

import { EngineError } from "../errors.js";

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
