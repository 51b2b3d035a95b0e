// Test images for the benchmarks that load the server with pictures: a flat field with one 64×64
// patch of noise, so the pixel count (what costs decode time and memory) can be large while the
// request body stays small.

import sharp from "sharp";

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** A w×h image as a base64 data URL; `seed` varies the noise, `background` the field. */
export async function noisyImage(
  width: number,
  height: number,
  format: "png" | "jpeg",
  seed: number,
  background: Rgb,
): Promise<string> {
  const tile = Buffer.alloc(64 * 64 * 3);
  for (let i = 0; i < tile.length; i++) tile[i] = (i * 2654435761 + seed * 97) >>> 24;
  const base = sharp({ create: { width, height, channels: 3, background } });
  const tiles = await sharp(tile, { raw: { width: 64, height: 64, channels: 3 } })
    .png()
    .toBuffer();
  const composed = base.composite([{ input: tiles, left: 0, top: 0 }]);
  const buffer =
    format === "png"
      ? await composed.png({ compressionLevel: 9 }).toBuffer()
      : await composed.jpeg({ quality: 80 }).toBuffer();
  return `data:image/${format};base64,${buffer.toString("base64")}`;
}
