// decodeImage vs PIL + `to_rgb` (expected bytes printed by Pillow 12.3 from the same PNGs), the
// EXIF and error behaviour. The alpha rule is R1-Reward's (qwen-vl-utils' `to_rgb`): mode RGBA is
// composited on white, every other mode's transparency ignored; golden.test.ts checks it on the
// fixture images Python decoded.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { EngineError } from "../../../src/engine/errors.js";
import { decodeImage } from "../../../src/engine/images/decode.js";
import { ImageDecodeError } from "../../../src/engine/images/errors.js";
import { writePng } from "./png-writer.js";

async function rgb(bytes: Uint8Array): Promise<number[]> {
  return [...(await decodeImage(bytes)).data];
}

test("tRNS on a truecolour PNG is ignored, as PIL keeps mode RGB", async () => {
  const png = writePng({
    width: 2,
    height: 2,
    bitDepth: 8,
    colorType: 2,
    pixels: new Uint8Array([10, 20, 30, 200, 100, 50, 10, 20, 30, 0, 0, 0]),
    trns: new Uint8Array([0, 10, 0, 20, 0, 30]),
  });
  assert.deepEqual(await rgb(png), [10, 20, 30, 200, 100, 50, 10, 20, 30, 0, 0, 0]);
});

test("tRNS on a grey PNG is ignored, grey is replicated", async () => {
  const png = writePng({
    width: 2,
    height: 2,
    bitDepth: 8,
    colorType: 0,
    pixels: new Uint8Array([7, 99, 7, 250]),
    trns: new Uint8Array([0, 7]),
  });
  assert.deepEqual(await rgb(png), [7, 7, 7, 99, 99, 99, 7, 7, 7, 250, 250, 250]);
});

test("palette transparency is ignored: PIL's P mode shows the palette colours", async () => {
  const png = writePng({
    width: 3,
    height: 1,
    bitDepth: 8,
    colorType: 3,
    pixels: new Uint8Array([0, 1, 2]),
    palette: new Uint8Array([255, 0, 0, 0, 128, 255, 40, 80, 120]),
    trns: new Uint8Array([0, 100]),
  });
  assert.deepEqual(await rgb(png), [255, 0, 0, 0, 128, 255, 40, 80, 120]);
});

test("grey+alpha keeps its grey (PIL's LA); RGBA is composited on white with PIL's integer rounding", async () => {
  const la = writePng({
    width: 3,
    height: 1,
    bitDepth: 8,
    colorType: 4,
    pixels: new Uint8Array([0, 0, 100, 128, 200, 255]),
  });
  assert.deepEqual(await rgb(la), [0, 0, 0, 100, 100, 100, 200, 200, 200]);
  const rgba = writePng({
    width: 2,
    height: 1,
    bitDepth: 8,
    colorType: 6,
    pixels: new Uint8Array([0, 100, 200, 1, 13, 77, 254, 254]),
  });
  assert.deepEqual(await rgb(rgba), [254, 254, 255, 14, 78, 254]);
});

test("16-bit RGBA keeps the high bytes, then is composited; 16-bit grey+alpha keeps its grey", async () => {
  const rgba16 = writePng({
    width: 2,
    height: 1,
    bitDepth: 16,
    colorType: 6,
    // (0x00ff, 0x64aa, 0xc8ff, alpha 0x01ff) and (0x0d00, 0x4dff, 0xfe00, alpha 0xfeff)
    pixels: new Uint8Array([0, 0xff, 100, 0xaa, 200, 0xff, 1, 0xff, 13, 0, 77, 0xff, 254, 0, 254, 0xff]),
  });
  assert.deepEqual(await rgb(rgba16), [254, 254, 255, 14, 78, 254]);
  const la16 = writePng({
    width: 2,
    height: 1,
    bitDepth: 16,
    colorType: 4,
    pixels: new Uint8Array([0x64, 0xff, 0x00, 0x10, 0xc8, 0x01, 0xff, 0xff]),
  });
  assert.deepEqual(await rgb(la16), [100, 100, 100, 200, 200, 200]);
});

test("GIF transparency is ignored: the transparent palette entry's colour, as PIL shows it", async () => {
  // A 2x1 GIF written by Pillow 12.3: palette (10, 20, 30), (200, 100, 50); index 1 transparent.
  const gif = Buffer.from([
    71, 73, 70, 56, 57, 97, 2, 0, 1, 0, 129, 0, 0, 10, 20, 30, 200, 100, 50, 0, 0, 0, 0, 0, 0, 33, 249, 4, 1,
    0, 0, 1, 0, 44, 0, 0, 0, 0, 2, 0, 1, 0, 0, 8, 5, 0, 1, 4, 8, 8, 0, 59,
  ]);
  assert.deepEqual(await rgb(gif), [10, 20, 30, 200, 100, 50]);
});

test("16-bit PNGs: RGB keeps the high byte, grey clips at 255 like PIL's I;16", async () => {
  const grey16 = writePng({
    width: 3,
    height: 1,
    bitDepth: 16,
    colorType: 0,
    pixels: new Uint8Array([0x00, 0x80, 0x01, 0x00, 0xab, 0xcd]),
  });
  assert.deepEqual(await rgb(grey16), [128, 128, 128, 255, 255, 255, 255, 255, 255]);
  const rgb16 = writePng({
    width: 2,
    height: 1,
    bitDepth: 16,
    colorType: 2,
    pixels: new Uint8Array([0x80, 0xff, 0x12, 0x34, 0xff, 0x00, 0x00, 0xff, 0x7f, 0x80, 0xfe, 0x01]),
  });
  assert.deepEqual(await rgb(rgb16), [128, 18, 255, 0, 127, 254]);
});

test("EXIF orientation is not applied (HF does not rotate)", async () => {
  const raw = Buffer.alloc(4 * 2 * 3, 128);
  const jpeg = await sharp(raw, { raw: { width: 4, height: 2, channels: 3 } })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const image = await decodeImage(jpeg);
  assert.deepEqual([image.width, image.height], [4, 2]);
});

test("WebP with alpha and GIF first frame decode to RGB", async () => {
  const rgba = Buffer.from([10, 20, 30, 0, 10, 20, 30, 255]);
  const webp = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } })
    .webp({ lossless: true })
    .toBuffer();
  assert.deepEqual(await rgb(webp), [255, 255, 255, 10, 20, 30]);
  const gif = await sharp(Buffer.from([0, 0, 0, 255, 255, 255]), {
    raw: { width: 2, height: 1, channels: 3 },
  })
    .gif()
    .toBuffer();
  assert.deepEqual(await rgb(gif), [0, 0, 0, 255, 255, 255]);
});

async function assertDecodeError(
  bytes: Uint8Array,
  pattern: RegExp,
  maxInputPixels?: number,
  code: "invalid_image" | "image_too_large" = "invalid_image",
): Promise<void> {
  await assert.rejects(
    decodeImage(bytes, { field: "images[1]", ...(maxInputPixels ? { maxInputPixels } : {}) }),
    (err: unknown) => {
      assert.ok(err instanceof EngineError, String(err));
      assert.equal(err.code, code);
      if (code === "invalid_image") assert.ok(err instanceof ImageDecodeError, String(err));
      assert.equal(err.field, "images[1]");
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test("errors: empty, garbage, truncated, zero size, unsupported format, too many pixels", async () => {
  await assertDecodeError(new Uint8Array(0), /empty/);
  await assertDecodeError(Buffer.from("definitely not an image"), /cannot decode/);
  const png = writePng({ width: 2, height: 1, bitDepth: 8, colorType: 2, pixels: new Uint8Array(6) });
  await assertDecodeError(png.subarray(0, png.length - 20), /cannot decode/);
  const zero = writePng({ width: 0, height: 1, bitDepth: 8, colorType: 2, pixels: new Uint8Array(0) });
  await assertDecodeError(zero, /cannot decode|zero size/);
  const tiff = await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } })
    .tiff()
    .toBuffer();
  await assertDecodeError(tiff, /unsupported image format 'tiff'/);
  const big = await sharp({ create: { width: 200, height: 100, channels: 3, background: "#fff" } })
    .png()
    .toBuffer();
  await assertDecodeError(big, /200x100 = 20000 pixels, over the limit of 19999/, 19_999, "image_too_large");
  assert.equal((await decodeImage(big, { maxInputPixels: 20_000 })).width, 200);
});

test("embedded ICC profiles are ignored, as PIL ignores them (sharp would convert: up to 38 levels off)", async () => {
  const w = 97;
  const h = 61;
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  const jpeg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .withIccProfile("p3")
    .jpeg({ quality: 80 })
    .toBuffer();
  const image = await decodeImage(jpeg);
  // sha256 of np.asarray(Image.open(jpeg).convert("RGB")) with Pillow 12.3, from these same bytes
  assert.equal(
    createHash("sha256").update(image.data).digest("hex"),
    "665efe3ef2c55e7b78c037c3eb87c48e295fcd4744b98076a13691736e728fc7",
  );
});

test("a CMYK JPEG decodes to Pillow's RGB exactly (expected bytes written by Pillow 12.3's convert('RGB'))", async () => {
  const dir = path.join(import.meta.dirname, "../../fixtures/images");
  const jpeg = await readFile(path.join(dir, "cmyk-50x40.jpg"));
  const expected = await readFile(path.join(dir, "cmyk-50x40.rgb"));
  const image = await decodeImage(jpeg);
  assert.equal(image.width, 50);
  assert.equal(image.height, 40);
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs((image.data[i] ?? 0) - (expected[i] ?? 0)));
  assert.equal(worst, 0, `largest difference ${worst} levels`);
});
