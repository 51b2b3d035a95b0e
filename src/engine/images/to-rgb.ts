// PIL-equivalent conversion of decoded pixels to RGB uint8: grey replicated, an alpha band composited
// over opaque white as PIL does for mode RGBA. Which images keep their alpha band is decode.ts's rule
// (the twin of training/src/r1judge_train/models/to_rgb.py): only those PIL opens as RGBA.

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major, width·height·3 bytes. */
  data: Uint8Array;
}

/**
 * PIL's ImagingAlphaComposite (scalar path, 7 extra precision bits) with an opaque white destination.
 * Its SIMD paths give identical results for every (value, alpha) pair; checked exhaustively against
 * Pillow 12.3.
 */
function overWhite(value: number, alpha: number): number {
  if (alpha === 0) return 255;
  const coef1 = alpha * 128; // src.a·255·255·2^7 / (255·255), exact because dst.a = 255
  const coef2 = 255 * 128 - coef1;
  const tmp = value * coef1 + 255 * coef2 + (0x80 << 7);
  return (((tmp >> 8) + tmp) >> 8) >> 7;
}

/** channels: 1 = grey, 2 = grey+alpha, 3 = RGB, 4 = RGBA (interleaved uint8). */
export function toRgb(width: number, height: number, channels: number, src: Uint8Array): RgbImage {
  if (channels < 1 || channels > 4) throw new Error(`toRgb: unsupported channel count ${channels}`);
  const n = width * height;
  if (src.length !== n * channels) {
    throw new Error(
      `toRgb: expected ${n * channels} bytes for ${width}x${height}x${channels}, got ${src.length}`,
    );
  }
  if (channels === 3) return { width, height, data: src };
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    let r: number;
    let g: number;
    let b: number;
    if (channels === 1 || channels === 2) {
      r = g = b = src[i * channels] ?? 0;
    } else {
      r = src[i * 4] ?? 0;
      g = src[i * 4 + 1] ?? 0;
      b = src[i * 4 + 2] ?? 0;
    }
    if (channels === 2 || channels === 4) {
      const a = src[i * channels + channels - 1] ?? 0;
      r = overWhite(r, a);
      g = overWhite(g, a);
      b = overWhite(b, a);
    }
    data[i * 3] = r;
    data[i * 3 + 1] = g;
    data[i * 3 + 2] = b;
  }
  return { width, height, data };
}
