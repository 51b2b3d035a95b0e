// One image's bytes → its model patches: decode (decode.ts) and preprocess (preprocess.ts). The unit
// of work of the image pool (pool.ts); also run in the calling thread by sets that have no pool
// (tests, tools).

import type { PreprocessorConfig } from "./config.js";
import { decodeImage, type ImageHeader } from "./decode.js";
import { ImageSizeError } from "./errors.js";
import { type GridThw, preprocessImage } from "./preprocess.js";

/**
 * Bytes a decode holds per full-resolution pixel until the image is resized: sharp's raw output
 * (3–4 B), the RGB copy when alpha is dropped or composited (3 B), and the first resize pass (at most
 * 3 B, usually far less), plus libvips' own buffers. Measured peak on a 7071×7071 PNG (RGB and RGBA):
 * see docs/reliability.md.
 */
export const DECODE_BYTES_PER_PIXEL = 10;

/** Values per patch row: 3 channels × temporal patch × patch × patch (1176 for Qwen2-VL). */
export function rowSize(config: PreprocessorConfig): number {
  return 3 * config.temporalPatchSize * config.patchSize * config.patchSize;
}

/** Bytes of an image's float32 patch tensor. */
export function patchBytes(grid: GridThw, config: PreprocessorConfig): number {
  return grid[0] * grid[1] * grid[2] * rowSize(config) * 4;
}

export interface PrepareJob {
  /** The compressed image. */
  bytes: Uint8Array;
  /** Its header, read earlier (the decode must agree with it). */
  header: ImageHeader;
  preprocessor: PreprocessorConfig;
  maxInputPixels: number;
  /** Request field named in errors, e.g. "images[2]". */
  field: string;
}

export interface PreparedPixels {
  /** rows × rowSize float32 patches (row-major, HF order). */
  pixelValues: Float32Array;
  grid: GridThw;
}

/** Whatever runs prepare jobs: the pool (pool.ts) or the calling thread (IN_THREAD). */
export interface ImagePreparer {
  prepare(job: PrepareJob): Promise<PreparedPixels>;
}

export async function prepareImage(job: PrepareJob): Promise<PreparedPixels> {
  const image = await decodeImage(
    job.bytes,
    { maxInputPixels: job.maxInputPixels, field: job.field },
    job.header,
  );
  try {
    const { pixelValues, gridThw } = preprocessImage(image, job.preprocessor);
    return { pixelValues, grid: gridThw };
  } catch (err) {
    // Only the smart resize throws (a shape the model cannot take); sets refuse those from the header.
    throw new ImageSizeError((err as Error).message, job.field);
  }
}

/** Decode and preprocess in the calling thread: for tests and tools, never the engine's thread. */
export const IN_THREAD: ImagePreparer = { prepare: prepareImage };
