// One request's images, shared by every generation the request makes (both response orders of a
// judgement, every comparison of a ranking): their headers are read once, and their pixels are
// decoded and preprocessed once, one image at a time under the process-wide PixelBudget, after the
// prompt's length (known from the headers) has been checked.

import { createHash } from "node:crypto";
import { EngineError } from "../errors.js";
import type { PreprocessorConfig } from "./config.js";
import { decodeImage, type ImageHeader, probeImage } from "./decode.js";
import { ImagePixelsError, ImageSizeError } from "./errors.js";
import { PixelBudget } from "./pixel-budget.js";
import { type GridThw, type ImageInputs, joinImages, preprocessImage } from "./preprocess.js";
import { smartResize } from "./smart-resize.js";

export interface ImageLimits {
  /** Largest width·height of one image. */
  maxImagePixels: number;
  /** Largest width·height of a request's images together. */
  maxRequestPixels: number;
}

export interface ImageScan {
  headers: ImageHeader[];
  /** The model's patch grid of each image, from its header. */
  grids: GridThw[];
}

export class ImageSetReleasedError extends EngineError {
  constructor() {
    super("cancelled", "the request's images were released before they were decoded");
    this.name = "ImageSetReleasedError";
  }
}

export class ImageSet {
  private bytes: Uint8Array[];
  private scanned: Promise<ImageScan> | undefined;
  private decoded: Promise<ImageInputs> | undefined;
  private released = false;

  constructor(
    images: Uint8Array[],
    /** sha256 of each image: the prefix cache tells images apart by them. */
    readonly digests: readonly string[],
    private readonly preprocessor: PreprocessorConfig,
    private readonly limits: ImageLimits,
    private readonly budget: PixelBudget,
  ) {
    this.bytes = images;
  }

  /**
   * A set on its own (tests, benchmarks, one-off tools): digests computed here, a budget of its own,
   * limits that refuse nothing unless given.
   */
  static of(
    images: readonly Uint8Array[],
    preprocessor: PreprocessorConfig,
    limits: ImageLimits = {
      maxImagePixels: Number.MAX_SAFE_INTEGER,
      maxRequestPixels: Number.MAX_SAFE_INTEGER,
    },
  ): ImageSet {
    const digests = images.map((bytes) => createHash("sha256").update(bytes).digest("hex"));
    return new ImageSet([...images], digests, preprocessor, limits, new PixelBudget(Number.MAX_SAFE_INTEGER));
  }

  get count(): number {
    return this.digests.length;
  }

  /** Headers and grids (no pixel decoded); refuses images over the pixel limits, naming them. */
  scan(): Promise<ImageScan> {
    this.scanned ??= this.readHeaders();
    return this.scanned;
  }

  /** The preprocessed pixels of every image, in order (decoded once, however often asked). */
  pixels(): Promise<ImageInputs> {
    this.decoded ??= this.decode();
    return this.decoded;
  }

  /** Image i's patches (TEMPORARY in-thread version; the image pool replaces it). */
  async patches(i: number): Promise<{ pixelValues: Float32Array; grid: GridThw; release(): void }> {
    const { headers } = await this.scan();
    const header = headers[i];
    if (this.released || !header) throw new ImageSetReleasedError();
    const giveBack = await this.budget.acquire(header.width * header.height);
    try {
      const bytes = this.bytes[i];
      if (this.released || !bytes) throw new ImageSetReleasedError();
      const field = `images[${i}]`;
      const image = await decodeImage(bytes, { maxInputPixels: this.limits.maxImagePixels, field }, header);
      const { pixelValues, gridThw } = preprocessImage(image, this.preprocessor);
      return { pixelValues, grid: gridThw, release: () => {} };
    } finally {
      giveBack();
    }
  }

  /** Drops the bytes; a decode still running stops before its next image. */
  release(): void {
    this.released = true;
    this.bytes = [];
  }

  private async readHeaders(): Promise<ImageScan> {
    const { patchSize: p, mergeSize: m } = this.preprocessor;
    const headers: ImageHeader[] = [];
    const grids: GridThw[] = [];
    let total = 0;
    for (let i = 0; i < this.count; i++) {
      const bytes = this.bytes[i];
      if (this.released || !bytes) throw new ImageSetReleasedError();
      const field = `images[${i}]`;
      const header = await probeImage(bytes, { maxInputPixels: this.limits.maxImagePixels, field });
      total += header.width * header.height;
      let size: [number, number];
      try {
        size = smartResize(
          header.height,
          header.width,
          p * m,
          this.preprocessor.minPixels,
          this.preprocessor.maxPixels,
        );
      } catch (err) {
        throw new ImageSizeError((err as Error).message, field);
      }
      headers.push(header);
      grids.push([1, size[0] / p, size[1] / p]);
    }
    if (total > this.limits.maxRequestPixels) {
      throw new ImagePixelsError(
        `the images hold ${total} pixels together, over the limit of ${this.limits.maxRequestPixels} per request`,
        "images",
      );
    }
    return { headers, grids };
  }

  private async decode(): Promise<ImageInputs> {
    const { headers } = await this.scan();
    const parts: { pixelValues: Float32Array; gridThw: GridThw }[] = [];
    for (const [i, header] of headers.entries()) {
      if (this.released) throw new ImageSetReleasedError();
      const giveBack = await this.budget.acquire(header.width * header.height);
      try {
        const bytes = this.bytes[i];
        if (this.released || !bytes) throw new ImageSetReleasedError();
        const field = `images[${i}]`;
        const image = await decodeImage(bytes, { maxInputPixels: this.limits.maxImagePixels, field }, header);
        parts.push(preprocessImage(image, this.preprocessor));
      } finally {
        giveBack();
      }
    }
    // Only the preprocessed pixels are needed from here on.
    this.bytes = [];
    return joinImages(parts, this.preprocessor);
  }
}
