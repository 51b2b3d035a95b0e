// Qwen2-VL image preprocessing (HF Qwen2VLImageProcessorPil): smart resize, PIL bicubic, rescale,
// normalise, patchify into rows of C·T·P·P values; bit-compatible with the Python reference.

import type { PreprocessorConfig } from "./config.js";
import { resizeBicubic } from "./resize.js";
import { smartResize } from "./smart-resize.js";
import type { RgbImage } from "./to-rgb.js";

export { smartResize } from "./smart-resize.js";

export type GridThw = [number, number, number];

export interface ImageInputs {
  /** rows × (3·temporal·patch·patch), row-major float32. */
  pixelValues: Float32Array;
  /** One [t, h, w] per image, in patches (t is always 1 for a still image). */
  gridThw: GridThw[];
  /** Values per row, 1176 for Qwen2-VL. */
  rowSize: number;
}

/**
 * value → float32 for each channel, reproducing numpy's order: uint8 → float64 · rescale_factor →
 * float32, then (x − mean) / std in float32 with mean/std cast to float32.
 */
function channelLuts(config: PreprocessorConfig): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const lut = new Float32Array(256);
    const mean = config.imageMean ? Math.fround(config.imageMean[c] ?? 0) : undefined;
    const std = config.imageStd ? Math.fround(config.imageStd[c] ?? 1) : undefined;
    for (let v = 0; v < 256; v++) {
      let x = config.rescaleFactor === 1 ? v : Math.fround(v * config.rescaleFactor);
      if (mean !== undefined && std !== undefined) x = Math.fround(Math.fround(x - mean) / std);
      lut[v] = x;
    }
    return lut;
  });
}

export function preprocessImage(
  image: RgbImage,
  config: PreprocessorConfig,
): { pixelValues: Float32Array; gridThw: GridThw } {
  const { patchSize: p, mergeSize: m, temporalPatchSize: t } = config;
  const [height, width] = smartResize(image.height, image.width, p * m, config.minPixels, config.maxPixels);
  const resized = resizeBicubic(image, width, height);
  const luts = channelLuts(config);
  const gh = height / p;
  const gw = width / p;
  const plane = p * p;
  const rowSize = 3 * t * plane;
  const out = new Float32Array(gh * gw * rowSize);
  const src = resized.data;
  // HF's row order is (gh/m, gw/m, m, m) and within a row (C, T, ph, pw); T repeats the still frame.
  let row = 0;
  for (let bh = 0; bh < gh / m; bh++) {
    for (let bw = 0; bw < gw / m; bw++) {
      for (let mh = 0; mh < m; mh++) {
        for (let mw = 0; mw < m; mw++) {
          const y0 = (bh * m + mh) * p;
          const x0 = (bw * m + mw) * p;
          const base = row * rowSize;
          for (let c = 0; c < 3; c++) {
            const lut = luts[c] as Float32Array;
            const cBase = base + c * t * plane;
            for (let py = 0; py < p; py++) {
              const s = ((y0 + py) * width + x0) * 3 + c;
              const d = cBase + py * p;
              for (let px = 0; px < p; px++) out[d + px] = lut[src[s + px * 3] ?? 0] ?? 0;
            }
            for (let ti = 1; ti < t; ti++) out.copyWithin(cBase + ti * plane, cBase, cBase + plane);
          }
          row++;
        }
      }
    }
  }
  return { pixelValues: out, gridThw: [1, gh, gw] };
}

/** Several images → one pixel_values tensor (rows concatenated in order) and their grids. */
export function preprocessImages(images: readonly RgbImage[], config: PreprocessorConfig): ImageInputs {
  return joinImages(
    images.map((image) => preprocessImage(image, config)),
    config,
  );
}

/** Preprocessed images, one at a time, → one pixel_values tensor and their grids. */
export function joinImages(
  parts: readonly { pixelValues: Float32Array; gridThw: GridThw }[],
  config: PreprocessorConfig,
): ImageInputs {
  const rowSize = 3 * config.temporalPatchSize * config.patchSize * config.patchSize;
  const total = parts.reduce((n, part) => n + part.pixelValues.length, 0);
  const pixelValues = new Float32Array(total);
  let offset = 0;
  for (const part of parts) {
    pixelValues.set(part.pixelValues, offset);
    offset += part.pixelValues.length;
  }
  return { pixelValues, gridThw: parts.map((part) => part.gridThw), rowSize };
}
