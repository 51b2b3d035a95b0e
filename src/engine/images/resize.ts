// Pillow-exact bicubic resize of interleaved RGB uint8 (Image.resize(size, BICUBIC) on an RGB image,
// i.e. libImaging/Resample.c): sharp's resize differs from PIL by up to ~200 levels near 1x, and the
// model was trained on PIL's output.

import type { RgbImage } from "./to-rgb.js";

const PRECISION_BITS = 32 - 8 - 2;
const BICUBIC_SUPPORT = 2;

function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

interface Coeffs {
  ksize: number;
  /** Per output index: first input index and number of taps. */
  bounds: Int32Array;
  /** outSize·ksize fixed-point weights with PRECISION_BITS fraction bits. */
  kk: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc, with the default box (0, inSize). */
function precomputeCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const weights = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      weights[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? (weights[x] ?? 0) / ww : (weights[x] ?? 0);
      kk[xx * ksize + x] =
        k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** clip8: arithmetic shift then clamp, as Pillow's lookup table does. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : Math.min(v, 255);
}

/**
 * Resamples `count` lines of `len` RGB pixels each; `stride`/`step` say how lines and pixels are laid out
 * so one loop serves both passes (horizontal: lines are rows; vertical: lines are columns).
 */
function pass(
  src: Uint8Array,
  dst: Uint8Array,
  count: number,
  outLen: number,
  c: Coeffs,
  srcLine: number,
  srcStep: number,
  dstLine: number,
  dstStep: number,
): void {
  const half = 1 << (PRECISION_BITS - 1);
  for (let line = 0; line < count; line++) {
    const s0 = line * srcLine;
    const d0 = line * dstLine;
    for (let o = 0; o < outLen; o++) {
      const xmin = c.bounds[o * 2] ?? 0;
      const taps = c.bounds[o * 2 + 1] ?? 0;
      const k0 = o * c.ksize;
      let r = half;
      let g = half;
      let b = half;
      for (let x = 0; x < taps; x++) {
        const k = c.kk[k0 + x] ?? 0;
        const p = s0 + (xmin + x) * srcStep;
        r += (src[p] ?? 0) * k;
        g += (src[p + 1] ?? 0) * k;
        b += (src[p + 2] ?? 0) * k;
      }
      const q = d0 + o * dstStep;
      dst[q] = clip8(r);
      dst[q + 1] = clip8(g);
      dst[q + 2] = clip8(b);
    }
  }
}

export function resizeBicubic(image: RgbImage, width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`resizeBicubic: invalid target size ${width}x${height}`);
  }
  let current = image;
  // Like ImagingResampleInner, a pass whose size is unchanged is skipped (it would be the identity).
  if (width !== image.width) {
    const c = precomputeCoeffs(image.width, width);
    const data = new Uint8Array(width * image.height * 3);
    pass(image.data, data, image.height, width, c, image.width * 3, 3, width * 3, 3);
    current = { width, height: image.height, data };
  }
  if (height !== image.height) {
    const c = precomputeCoeffs(image.height, height);
    const data = new Uint8Array(width * height * 3);
    pass(current.data, data, width, height, c, 3, width * 3, 3, width * 3);
    current = { width, height, data };
  }
  return current === image ? { width, height, data: image.data.slice() } : current;
}
