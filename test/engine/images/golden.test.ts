// Golden check against the Python reference (training kit, HF Qwen2VLImageProcessorPil): each fixture
// image must decode to exactly Python's RGB bytes (PIL + `to_rgb`, R1-Reward's alpha rule: RGBA on
// white, other modes' transparency ignored), and decode → preprocess must match its pixel_values
// within 1e-5 and its grid exactly.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { parsePreprocessorConfig } from "../../../src/engine/images/config.js";
import { decodeImage } from "../../../src/engine/images/decode.js";
import { preprocessImage, preprocessImages } from "../../../src/engine/images/preprocess.js";

const GOLDEN = path.join(import.meta.dirname, "../../fixtures/golden");

interface GoldenCase {
  image: string;
  size: [number, number];
  mode: string;
  /** Raw RGB bytes of PIL.Image.open + `to_rgb`. */
  rgb: string;
  grid_thw: [number, number, number];
  pixel_values_shape: [number, number];
  pixel_values: string;
}

const cases = (JSON.parse(readFileSync(path.join(GOLDEN, "images.json"), "utf8")) as { cases: GoldenCase[] })
  .cases;
// The fixtures were preprocessed with the demo checkpoint's own settings (training/…/export/fixtures.py).
const config = parsePreprocessorConfig(
  JSON.parse(
    readFileSync(path.join(import.meta.dirname, "../../../models/demo/preprocessor_config.json"), "utf8"),
  ),
);

function readF32(file: string): Float32Array {
  const buf = readFileSync(path.join(GOLDEN, file));
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return worst;
}

for (const c of cases) {
  test(`golden ${c.image} (${c.mode} ${c.size.join("x")})`, async (t) => {
    const image = await decodeImage(readFileSync(path.join(GOLDEN, c.image)));
    assert.deepEqual([image.width, image.height], c.size);
    const rgb = readFileSync(path.join(GOLDEN, c.rgb));
    assert.equal(image.data.length, rgb.length);
    let levels = 0;
    image.data.forEach((v, i) => {
      levels = Math.max(levels, Math.abs(v - (rgb[i] as number)));
    });
    assert.equal(levels, 0, `decoded RGB differs from Python's by up to ${levels} levels`);
    const { pixelValues, gridThw } = preprocessImage(image, config);
    assert.deepEqual(gridThw, c.grid_thw);
    const expected = readF32(c.pixel_values);
    assert.equal(pixelValues.length, c.pixel_values_shape[0] * c.pixel_values_shape[1]);
    assert.equal(pixelValues.length, expected.length);
    const worst = maxAbsDiff(pixelValues, expected);
    t.diagnostic(`worst |delta| = ${worst}`);
    assert.ok(worst <= 1e-5, `worst |delta| ${worst} > 1e-5`);
  });
}

test("golden: several images concatenate rows in order", async () => {
  const images = await Promise.all(cases.map((c) => decodeImage(readFileSync(path.join(GOLDEN, c.image)))));
  const batch = preprocessImages(images, config);
  assert.equal(batch.rowSize, 1176);
  assert.deepEqual(
    batch.gridThw,
    cases.map((c) => c.grid_thw),
  );
  let offset = 0;
  for (const c of cases) {
    const expected = readF32(c.pixel_values);
    const slice = batch.pixelValues.subarray(offset, offset + expected.length);
    assert.ok(maxAbsDiff(slice, expected) <= 1e-5, c.image);
    offset += expected.length;
  }
  assert.equal(offset, batch.pixelValues.length);
});
