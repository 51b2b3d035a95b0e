// Errors raised while turning request image bytes into model inputs; `field` names the request
// field (e.g. "images[2]") when the caller knows it, so the server can answer with a 400.

export class ImageDecodeError extends Error {
  field?: string;
  constructor(message: string, field?: string) {
    super(field === undefined ? message : `${field}: ${message}`);
    this.name = "ImageDecodeError";
    if (field !== undefined) this.field = field;
  }
}

/** The image decoded but its shape cannot be fed to the model (e.g. aspect ratio over 200, like HF). */
export class ImageSizeError extends Error {
  field?: string;
  constructor(message: string, field?: string) {
    super(field === undefined ? message : `${field}: ${message}`);
    this.name = "ImageSizeError";
    if (field !== undefined) this.field = field;
  }
}
