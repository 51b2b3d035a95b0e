// Decodes request image bytes (PNG, JPEG, WebP, GIF first frame) with sharp into RGB uint8, matching
// what PIL.Image.open + `to_rgb` give the Python reference: no EXIF rotation, no ICC conversion, and
// the alpha rule R1-Reward was trained with (qwen-vl-utils' `to_rgb`): an image PIL opens in mode
// RGBA is composited on white, every other mode's transparency is ignored (docs/checkpoint-format.md).

import sharp, { type Metadata, type SharpOptions } from "sharp";
import { ImageDecodeError, ImagePixelsError } from "./errors.js";
import { gifTransparentColour } from "./gif.js";
import { type RgbImage, toRgb } from "./to-rgb.js";

export type { RgbImage } from "./to-rgb.js";

/** Below PIL's own bomb warning threshold (89.5 MP) so a server rejects before PIL would even warn. */
export const DEFAULT_MAX_INPUT_PIXELS = 50_000_000;

const FORMATS = new Set(["png", "jpeg", "webp", "gif"]);

// libvips' operation cache would keep decoded request images alive after their request is done.
sharp.cache(false);

export interface DecodeOptions {
  /** Largest width·height accepted, checked from the header before any pixel is decoded. */
  maxInputPixels?: number;
  /** Request field named in errors, e.g. "images[0]". */
  field?: string;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** PNG IHDR colour type and bit depth, or undefined for other formats. */
function pngHeader(buf: Uint8Array): { colorType: number; bitDepth: number } | undefined {
  if (buf.length < 29 || PNG_SIGNATURE.some((b, i) => buf[i] !== b)) return undefined;
  return { bitDepth: buf[24] ?? 0, colorType: buf[25] ?? 0 };
}

/** What an image's header says, read without decoding a pixel. */
export interface ImageHeader {
  format: string;
  width: number;
  height: number;
  /** libvips' colour space, e.g. "srgb", "b-w", "cmyk". */
  space: string | undefined;
}

// ignoreIcc: PIL never applies embedded profiles; autoOrient false: HF does not rotate by EXIF.
const INPUT = { ignoreIcc: true, autoOrient: false, pages: 1, page: 0, failOn: "error" } as const;

/**
 * Reads the header and refuses what cannot or must not be decoded: empty bytes, formats other than
 * PNG/JPEG/WebP/GIF, zero sizes, and images over `maxInputPixels` (decompression bombs).
 */
export async function probeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<ImageHeader> {
  const field = options.field;
  const maxPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const fail = (message: string): ImageDecodeError => new ImageDecodeError(message, field);
  if (bytes.length === 0) throw fail("image is empty (0 bytes)");
  let meta: Metadata;
  try {
    // Header only, so no limit here: the check below gives a clearer message than sharp's.
    meta = await sharp(bytes, { ...INPUT, limitInputPixels: false }).metadata();
  } catch (err) {
    throw fail(`cannot decode image: ${describe(err)}`);
  }
  if (!meta.format || !FORMATS.has(meta.format)) {
    throw fail(`unsupported image format '${meta.format ?? "unknown"}' (expected PNG, JPEG, WebP or GIF)`);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) throw fail(`image has zero size (${width}x${height})`);
  if (width * height > maxPixels) {
    throw new ImagePixelsError(
      `image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`,
      field ?? "image",
    );
  }
  return { format: meta.format, width, height, space: meta.space };
}

export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeOptions = {},
  probed?: ImageHeader,
): Promise<RgbImage> {
  const header = probed ?? (await probeImage(bytes, options));
  const fail = (message: string): ImageDecodeError => new ImageDecodeError(message, options.field);
  const input = { ...INPUT, limitInputPixels: options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS };
  const png = header.format === "png" ? pngHeader(bytes) : undefined;
  let image: RgbImage;
  try {
    if (png && png.colorType === 0 && png.bitDepth === 16) image = await decodeGrey16(bytes, input);
    else if (header.space === "cmyk") image = await decodeCmyk(bytes, input);
    else {
      const { data, info } = await sharp(bytes, input)
        .raw({ depth: "uchar" })
        .toBuffer({ resolveWithObject: true });
      let channels = info.channels;
      let pixels: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, data.length);
      // libvips gives an alpha band to grey+alpha and palette PNGs, tRNS chunks and GIF transparency
      // too; PIL opens those in modes LA, P, L or RGB, whose convert("RGB") ignores alpha: drop it.
      if ((channels === 2 || channels === 4) && !pilOpensRgba(header.format, png)) {
        if (header.format === "gif") fillTransparent(pixels, channels, gifTransparentColour(bytes));
        pixels = dropAlpha(pixels, channels);
        channels -= 1;
      }
      image = toRgb(info.width, info.height, channels, pixels);
    }
  } catch (err) {
    throw fail(`cannot decode image: ${describe(err)}`);
  }
  // The prompt's image tokens were counted from the header's size: the pixels must agree with it.
  if (image.width !== header.width || image.height !== header.height) {
    throw fail(
      `decoded ${image.width}x${image.height}, but the header says ${header.width}x${header.height}`,
    );
  }
  return image;
}

/**
 * CMYK JPEGs as PIL gives them: the stored ink values (libvips inverts Adobe's inverted CMYK as
 * libjpeg-based PIL does), then PIL's `cmyk2rgb` — not libvips' ICC conversion, which differs from
 * PIL by up to ~140 levels.
 */
async function decodeCmyk(bytes: Uint8Array, input: SharpOptions): Promise<RgbImage> {
  const { data, info } = await sharp(bytes, input)
    .pipelineColourspace("cmyk")
    .toColourspace("cmyk")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`expected 4 CMYK bands, got ${info.channels}`);
  const n = info.width * info.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const notK = 255 - (data[i * 4 + 3] as number);
    for (let c = 0; c < 3; c++) out[i * 3 + c] = notK - mulDiv255(data[i * 4 + c] as number, notK);
  }
  return { width: info.width, height: info.height, data: out };
}

/** PIL's MULDIV255: a·b/255 rounded, in integers. */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/** PIL opens 16-bit grey PNGs as mode I;16 and its conversion to RGB clips at 255 (no scaling). */
async function decodeGrey16(bytes: Uint8Array, input: SharpOptions): Promise<RgbImage> {
  const { data, info } = await sharp(bytes, input)
    .toColourspace("grey16")
    .raw({ depth: "ushort" })
    .toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const grey = new Uint8Array(n);
  for (let i = 0; i < n; i++) grey[i] = Math.min(255, data.readUInt16LE(i * info.channels * 2));
  return toRgb(info.width, info.height, 1, grey);
}

/**
 * Whether PIL opens the image in mode RGBA, the one mode qwen-vl-utils' `to_rgb` composites on
 * white: PNGs of colour type 6 (8 or 16 bits) and WebP with alpha (libvips then gives 4 bands).
 */
function pilOpensRgba(format: string, png: { colorType: number } | undefined): boolean {
  if (format === "png") return png?.colorType === 6;
  return format === "webp";
}

/**
 * libvips zeroes a GIF's transparent pixels; PIL keeps the transparent palette entry's colour, which
 * convert("RGB") shows. Only transparent pixels have alpha 0 in a GIF (its alpha is 0 or 255).
 */
function fillTransparent(pixels: Uint8Array, channels: number, colour: readonly number[] | undefined): void {
  if (!colour || channels !== 4) return;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] !== 0) continue;
    pixels[i] = colour[0] ?? 0;
    pixels[i + 1] = colour[1] ?? 0;
    pixels[i + 2] = colour[2] ?? 0;
  }
}

function dropAlpha(src: Uint8Array, channels: number): Uint8Array {
  const keep = channels - 1;
  const n = src.length / channels;
  const out = new Uint8Array(n * keep);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < keep; c++) out[i * keep + c] = src[i * channels + c] ?? 0;
  }
  return out;
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0] ?? message;
}
