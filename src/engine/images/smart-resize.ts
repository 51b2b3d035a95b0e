// Qwen2-VL's smart_resize (transformers qwen2_vl image processor) with Python's number semantics:
// round() is half-to-even, so a 70 px side (2.5 factors) becomes 56, not 84 as Math.round would give.

import { ImageSizeError } from "./errors.js";

/** Python's round(float) for finite x: ties go to the even neighbour (x - floor(x) is exact). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** [height, width] of the resized image, both multiples of `factor`. */
export function smartResize(
  height: number,
  width: number,
  factor = 28,
  minPixels = 56 * 56,
  maxPixels = 14 * 14 * 4 * 1280,
): [number, number] {
  if (!(height > 0 && width > 0)) throw new ImageSizeError(`image has zero size (${width}x${height})`);
  const ratio = Math.max(height, width) / Math.min(height, width);
  if (ratio > 200) throw new ImageSizeError(`absolute aspect ratio must be smaller than 200, got ${ratio}`);
  let hBar = pyRound(height / factor) * factor;
  let wBar = pyRound(width / factor) * factor;
  if (hBar * wBar > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    hBar = Math.max(factor, Math.floor(height / beta / factor) * factor);
    wBar = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (hBar * wBar < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    hBar = Math.ceil((height * beta) / factor) * factor;
    wBar = Math.ceil((width * beta) / factor) * factor;
  }
  return [hBar, wBar];
}
