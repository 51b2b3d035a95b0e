// Decodes request image bytes (PNG, JPEG, WebP, GIF first frame) with sharp into RGB uint8, matching
// what PIL.Image.open + `to_rgb` give the Python reference: no EXIF rotation, no ICC conversion,
// transparency composited on white.

import sharp, { type Metadata, type SharpOptions } from "sharp";
import { ImageDecodeError } from "./errors.js";
import { type RgbImage, toRgb } from "./to-rgb.js";

export type { RgbImage } from "./to-rgb.js";

/** Below PIL's own bomb warning threshold (89.5 MP) so a server rejects before PIL would even warn. */
export const DEFAULT_MAX_INPUT_PIXELS = 50_000_000;

const FORMATS = new Set(["png", "jpeg", "webp", "gif"]);

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

export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<RgbImage> {
  const field = options.field;
  const maxPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const fail = (message: string): ImageDecodeError => new ImageDecodeError(message, field);
  if (bytes.length === 0) throw fail("image is empty (0 bytes)");

  // ignoreIcc: PIL never applies embedded profiles; autoOrient false: HF does not rotate by EXIF.
  const input = {
    limitInputPixels: maxPixels,
    ignoreIcc: true,
    autoOrient: false,
    pages: 1,
    page: 0,
    failOn: "error",
  } as const;
  let meta: Metadata;
  try {
    // Header only, so no limit here: the check below gives a clearer message than sharp's.
    meta = await sharp(bytes, { ...input, limitInputPixels: false }).metadata();
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
    throw fail(`image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`);
  }

  const png = meta.format === "png" ? pngHeader(bytes) : undefined;
  try {
    if (png && png.colorType === 0 && png.bitDepth === 16) return await decodeGrey16(bytes, input);
    const { data, info } = await sharp(bytes, input)
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.width <= 0 || info.height <= 0) throw fail(`image has zero size (${info.width}x${info.height})`);
    let channels = info.channels;
    let pixels: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, data.length);
    // A tRNS chunk on a grey or truecolour PNG leaves PIL in mode L/RGB, which `to_rgb` converts
    // without compositing; libvips turns it into an alpha band, so drop that band instead.
    if (png && (png.colorType === 0 || png.colorType === 2) && (channels === 2 || channels === 4)) {
      pixels = dropAlpha(pixels, channels);
      channels -= 1;
    }
    return toRgb(info.width, info.height, channels, pixels);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw fail(`cannot decode image: ${describe(err)}`);
  }
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
