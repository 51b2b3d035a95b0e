// One request's images, shared by every generation the request makes (both response orders of a
// judgement, every comparison of a ranking): their headers are read once, in this thread; each
// image's patches are made on demand (patches(i)) by the image pool, off the engine's thread, under
// the process-wide ImageBudget, after the prompt's length (known from the headers) has been checked.
// Callers that ask for the same image while it is held share one decode; an image asked for again
// after every holder released it is decoded again (the set keeps the compressed bytes for that).
// joined() is the whole set in one tensor, as the model takes it until it encodes image by image.

import { createHash } from "node:crypto";
import { EngineError } from "../errors.js";
import type { PreprocessorConfig } from "./config.js";
import { type ImageHeader, probeImage } from "./decode.js";
import { ImagePixelsError, ImageSizeError } from "./errors.js";
import { type BudgetGrant, ImageBudget } from "./image-budget.js";
import {
  DECODE_BYTES_PER_PIXEL,
  type ImagePreparer,
  IN_THREAD,
  type PreparedPixels,
  patchBytes,
} from "./prepare.js";
import type { GridThw } from "./preprocess.js";
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

export interface PreparedImage {
  /** rows × 1176 float32 patches of this image (row-major, HF order). */
  pixelValues: Float32Array;
  grid: GridThw;
  /** Gives the patch bytes back to the budget and drops the reference; idempotent. */
  release(): void;
}

export interface JoinedImages {
  /** Every image's rows, in order: rows × 1176 float32. */
  values: Float32Array;
  grids: GridThw[];
}

export class ImageSetReleasedError extends EngineError {
  constructor() {
    super("cancelled", "the request's images were released before they were decoded");
    this.name = "ImageSetReleasedError";
  }
}

/** One image's patches while anyone holds them: the decode's result, its grant and its holders. */
interface Held {
  ready: Promise<PreparedPixels & { grant: BudgetGrant }>;
  holders: number;
  grant?: BudgetGrant;
}

export class ImageSet {
  private bytes: Uint8Array[];
  private scanned: Promise<ImageScan> | undefined;
  private readonly held = new Map<number, Held>();
  private whole: Promise<JoinedImages> | undefined;
  private wholeGrant: BudgetGrant | undefined;
  private released = false;

  constructor(
    images: Uint8Array[],
    /** sha256 of each image: the prefix cache tells images apart by them. */
    readonly digests: readonly string[],
    private readonly preprocessor: PreprocessorConfig,
    private readonly limits: ImageLimits,
    private readonly budget: ImageBudget,
    private readonly preparer: ImagePreparer,
  ) {
    this.bytes = images;
  }

  /**
   * A set on its own (tests, benchmarks, one-off tools): digests computed here, an unbounded budget of
   * its own, limits that refuse nothing unless given, and decoding in the calling thread unless a
   * preparer (a pool) is given.
   */
  static of(
    images: readonly Uint8Array[],
    preprocessor: PreprocessorConfig,
    limits: ImageLimits = {
      maxImagePixels: Number.MAX_SAFE_INTEGER,
      maxRequestPixels: Number.MAX_SAFE_INTEGER,
    },
    preparer: ImagePreparer = IN_THREAD,
    budget: ImageBudget = new ImageBudget(Number.MAX_SAFE_INTEGER),
  ): ImageSet {
    const digests = images.map((bytes) => createHash("sha256").update(bytes).digest("hex"));
    return new ImageSet([...images], digests, preprocessor, limits, budget, preparer);
  }

  get count(): number {
    return this.digests.length;
  }

  /** Headers and grids (no pixel decoded); refuses images over the pixel limits, naming them. */
  scan(): Promise<ImageScan> {
    this.scanned ??= this.readHeaders();
    return this.scanned;
  }

  /**
   * Image i's patches, decoded and preprocessed in the image pool under the budget; decoded again if
   * asked again after release. Rejects with ImageSetReleasedError once the set is released.
   */
  patches(i: number): Promise<PreparedImage> {
    if (this.released) return Promise.reject(new ImageSetReleasedError());
    if (!Number.isInteger(i) || i < 0 || i >= this.count)
      return Promise.reject(new EngineError("internal", `image ${i} asked of a set of ${this.count}`));
    let held = this.held.get(i);
    if (!held) {
      const entry: Held = { ready: this.prepare(i), holders: 0 };
      entry.ready.then(
        (done) => {
          entry.grant = done.grant;
        },
        () => {
          // A failed decode holds nothing; the next ask tries again.
          if (this.held.get(i) === entry) this.held.delete(i);
        },
      );
      this.held.set(i, entry);
      held = entry;
    }
    const entry = held;
    entry.holders++;
    return entry.ready.then(
      (done) => {
        if (this.released) {
          done.grant.release();
          throw new ImageSetReleasedError();
        }
        return this.handle(i, entry, done);
      },
      (err: unknown) => {
        entry.holders--;
        throw err;
      },
    );
  }

  /**
   * Every image's patches in one tensor, as model.ts takes them today, held until the set is released
   * (shared by all of the set's generations). Transitional, until the engine encodes image by image
   * from patches(i): it takes ONE grant, for the joined tensor plus the largest image's decode and
   * patches, decodes the images one at a time under it, then keeps only the joined tensor's bytes.
   * One grant per set means no set holds part of the budget while waiting for more, so sets cannot
   * deadlock one another, and the tensors of requests waiting for the engine count against the budget.
   */
  joined(): Promise<JoinedImages> {
    if (this.released) return Promise.reject(new ImageSetReleasedError());
    this.whole ??= this.join();
    return this.whole;
  }

  /**
   * Drops the compressed bytes and gives back the budget of every image still held (their holders'
   * release() then does nothing more); decodes still running give theirs back when they end.
   */
  release(): void {
    this.released = true;
    this.bytes = [];
    for (const entry of this.held.values()) entry.grant?.release();
    this.held.clear();
    this.wholeGrant?.release();
    this.whole = undefined;
  }

  private async join(): Promise<JoinedImages> {
    const { headers, grids } = await this.scan();
    const sizes = grids.map((grid) => patchBytes(grid, this.preprocessor));
    const total = sizes.reduce((a, b) => a + b, 0);
    const largest = Math.max(
      0,
      ...headers.map((h, i) => h.width * h.height * DECODE_BYTES_PER_PIXEL + (sizes[i] as number)),
    );
    const grant = await this.budget.acquire(total + largest);
    try {
      const values = new Float32Array(total / 4);
      let offset = 0;
      for (const [i, header] of headers.entries()) {
        const bytes = this.bytes[i];
        if (this.released || !bytes) throw new ImageSetReleasedError();
        const out = await this.preparer.prepare({
          bytes,
          header,
          preprocessor: this.preprocessor,
          maxInputPixels: this.limits.maxImagePixels,
          field: `images[${i}]`,
        });
        if (out.pixelValues.byteLength !== sizes[i])
          throw new EngineError(
            "internal",
            `images[${i}]: decoded to grid ${out.grid}, the header gave ${grids[i]}`,
          );
        values.set(out.pixelValues, offset);
        offset += out.pixelValues.length;
      }
      if (this.released) throw new ImageSetReleasedError();
      grant.shrink(total);
      this.wholeGrant = grant;
      return { values, grids };
    } catch (err) {
      grant.release();
      // A later ask (another generation) tries again rather than sharing this failure forever.
      this.whole = undefined;
      throw err;
    }
  }

  private handle(i: number, entry: Held, done: PreparedPixels & { grant: BudgetGrant }): PreparedImage {
    let pixels: Float32Array | undefined = done.pixelValues;
    let released = false;
    return {
      grid: done.grid,
      get pixelValues(): Float32Array {
        if (!pixels) throw new EngineError("internal", `image ${i}'s patches were used after release()`);
        return pixels;
      },
      release: () => {
        if (released) return;
        released = true;
        pixels = undefined;
        if (--entry.holders > 0) return;
        done.grant.release();
        if (this.held.get(i) === entry) this.held.delete(i);
      },
    };
  }

  private async prepare(i: number): Promise<PreparedPixels & { grant: BudgetGrant }> {
    const { headers, grids } = await this.scan();
    const header = headers[i] as ImageHeader;
    const grid = grids[i] as GridThw;
    const patch = patchBytes(grid, this.preprocessor);
    const grant = await this.budget.acquire(header.width * header.height * DECODE_BYTES_PER_PIXEL + patch);
    try {
      const bytes = this.bytes[i];
      if (this.released || !bytes) throw new ImageSetReleasedError();
      const out = await this.preparer.prepare({
        bytes,
        header,
        preprocessor: this.preprocessor,
        maxInputPixels: this.limits.maxImagePixels,
        field: `images[${i}]`,
      });
      // The full-resolution decode is gone; the patches stay until released.
      grant.shrink(patch);
      if (this.released) throw new ImageSetReleasedError();
      if (out.grid.some((n, k) => n !== grid[k]))
        throw new EngineError(
          "internal",
          `images[${i}]: decoded to grid ${out.grid}, the header gave ${grid}`,
        );
      return { pixelValues: out.pixelValues, grid, grant };
    } catch (err) {
      grant.release();
      throw err;
    }
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
}
