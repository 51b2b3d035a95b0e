// A request's images: their pixel limits are checked from the headers before any pixel is decoded
// (a decompression bomb is refused in microseconds, naming it); they are decoded once however many
// generations share them while held; a released set stops decoding; and the process-wide memory
// budget makes images wait their turn, first come first served.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import type { EngineError } from "../../../src/engine/errors.js";
import { parsePreprocessorConfig } from "../../../src/engine/images/config.js";
import { ImageDecodeError } from "../../../src/engine/images/errors.js";
import { ImageBudget } from "../../../src/engine/images/image-budget.js";
import { ImageSet, ImageSetReleasedError } from "../../../src/engine/images/image-set.js";
import {
  DECODE_BYTES_PER_PIXEL,
  type ImagePreparer,
  IN_THREAD,
  type PrepareJob,
  prepareImage,
} from "../../../src/engine/images/prepare.js";
import { writePng } from "./png-writer.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const config = parsePreprocessorConfig(
  JSON.parse(await readFile(path.join(ROOT, "models/demo/preprocessor_config.json"), "utf8")),
);

/** A PNG whose header claims width × height but whose data holds almost nothing: a bomb. */
function bomb(width: number, height: number): Uint8Array {
  return writePng({ width, height, bitDepth: 8, colorType: 0, pixels: new Uint8Array(0) });
}

async function png(width: number, height: number): Promise<Uint8Array> {
  return sharp({ create: { width, height, channels: 3, background: "#c33" } })
    .png()
    .toBuffer();
}

test("pixel limits are read from the headers: one image, and the request's images together", async () => {
  const limits = { maxImagePixels: 1_000_000, maxRequestPixels: 1_500_000 };
  const one = ImageSet.of([await png(10, 10), bomb(2000, 1000)], config, limits);
  await assert.rejects(one.scan(), (err: EngineError) => {
    assert.equal(err.code, "image_too_large");
    assert.equal(err.field, "images[1]");
    assert.match(err.message, /2000x1000 = 2000000 pixels, over the limit of 1000000/);
    return true;
  });
  const together = ImageSet.of([bomb(1000, 900), bomb(1000, 900)], config, limits);
  await assert.rejects(together.scan(), (err: EngineError) => {
    assert.equal(err.code, "image_too_large");
    assert.equal(err.field, "images");
    assert.match(err.message, /1800000 pixels together, over the limit of 1500000 per request/);
    return true;
  });
});

test("grids come from the headers, and match what decoding gives", async () => {
  const set = ImageSet.of([await png(333, 127), await png(70, 70)], config);
  const { grids } = await set.scan();
  for (const [i, grid] of grids.entries()) {
    const image = await set.patches(i);
    assert.deepEqual(image.grid, grid);
    assert.equal(image.pixelValues.length, grid[0] * grid[1] * grid[2] * 1176);
    image.release();
  }
});

/** A preparer that counts its jobs and runs them in this thread. */
function counting(): ImagePreparer & { jobs: number } {
  const preparer = {
    jobs: 0,
    prepare: (job: PrepareJob) => {
      preparer.jobs++;
      return prepareImage(job);
    },
  };
  return preparer;
}

test("callers of one image share its decode while any holds it; asked again after release, it decodes again", async () => {
  const preparer = counting();
  const budget = new ImageBudget(1 << 30);
  const set = ImageSet.of([await png(64, 64)], config, undefined, preparer, budget);
  const [a, b] = await Promise.all([set.patches(0), set.patches(0)]);
  assert.equal(preparer.jobs, 1);
  assert.equal(a.pixelValues, b.pixelValues);
  const patchBytes = a.pixelValues.byteLength;
  assert.equal(budget.inUse, patchBytes, "only the patches stay held after the decode");
  const c = await set.patches(0);
  assert.equal(preparer.jobs, 1, "still held: shared");
  a.release();
  a.release(); // idempotent
  b.release();
  assert.equal(budget.inUse, patchBytes, "c still holds them");
  c.release();
  assert.equal(budget.inUse, 0);
  assert.throws(() => c.pixelValues, /used after release/);
  const d = await set.patches(0);
  assert.equal(preparer.jobs, 2, "decoded again");
  d.release();
  assert.equal(budget.inUse, 0);
});

test("an image waits for the budget: its decode cost and patches, first come first served", async () => {
  const preparer = counting();
  const bytes = await png(64, 64);
  const probe = ImageSet.of([bytes], config);
  const first = await probe.patches(0);
  const patchBytes = first.pixelValues.byteLength;
  first.release();
  // Room for one image's decode (64·64 pixels) and patches at a time.
  const budget = new ImageBudget(64 * 64 * DECODE_BYTES_PER_PIXEL + patchBytes);
  const set = ImageSet.of([bytes, bytes], config, undefined, preparer, budget);
  const a = await set.patches(0);
  let bReady = false;
  const b = set.patches(1).then((image) => {
    bReady = true;
    return image;
  });
  for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
  assert.equal(bReady, false, "a's patches leave no room for b's decode");
  assert.equal(preparer.jobs, 1);
  a.release();
  (await b).release();
  assert.equal(preparer.jobs, 2);
  assert.equal(budget.inUse, 0);
});

test("errors name the image's field, and a failed image can be asked again", async () => {
  const good = await png(20, 20);
  const noise = Buffer.alloc(64 * 64 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const whole = await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } })
    .png()
    .toBuffer();
  const broken = whole.subarray(0, whole.length >> 1); // the header reads, the data does not
  const set = ImageSet.of([good, broken], config);
  await assert.rejects(set.patches(1), (err: EngineError) => {
    assert.ok(err instanceof ImageDecodeError);
    assert.equal(err.field, "images[1]");
    return true;
  });
  await assert.rejects(set.patches(1), (err: EngineError) => err.field === "images[1]");
  (await set.patches(0)).release();
});

test("a released set refuses patches, drops held ones from the budget, and fails decodes under way", async () => {
  const budget = new ImageBudget(1 << 30);
  const set = ImageSet.of([await png(64, 64), await png(64, 64)], config, undefined, IN_THREAD, budget);
  const held = await set.patches(0);
  const underWay = set.patches(1);
  set.release();
  await assert.rejects(underWay, ImageSetReleasedError);
  await assert.rejects(set.patches(0), (err: EngineError) => err.code === "cancelled");
  assert.equal(budget.inUse, 0, "held patches no longer count once their set is gone");
  held.release();
  assert.equal(budget.inUse, 0);
});

test("joined(): the images' patches in order, one grant per set held until the set is released", async () => {
  const a = await png(64, 64);
  const b = await png(100, 50);
  const alone = ImageSet.of([a, b], config);
  const parts = [await alone.patches(0), await alone.patches(1)];
  const joinedBytes = parts.reduce((n, p) => n + p.pixelValues.byteLength, 0);
  const decodeB = 100 * 50 * DECODE_BYTES_PER_PIXEL + (parts[1]?.pixelValues.byteLength ?? 0);
  // Room for one set's joined tensor and its largest image's decode at a time.
  const budget = new ImageBudget(joinedBytes + decodeB);
  const first = ImageSet.of([a, b], config, undefined, IN_THREAD, budget);
  const second = ImageSet.of([a, b], config, undefined, IN_THREAD, budget);
  const one = await first.joined();
  assert.equal(await first.joined(), one, "shared by the set's generations");
  assert.deepEqual(one.grids, (await alone.scan()).grids);
  assert.deepEqual(
    one.values,
    new Float32Array([...(parts[0]?.pixelValues ?? []), ...(parts[1]?.pixelValues ?? [])]),
  );
  assert.equal(budget.inUse, joinedBytes, "only the joined tensor stays held");
  let secondReady = false;
  const two = second.joined().then((j) => {
    secondReady = true;
    return j;
  });
  for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
  assert.equal(secondReady, false, "the second set waits for the first");
  first.release();
  assert.deepEqual((await two).values, one.values);
  second.release();
  assert.equal(budget.inUse, 0);
  await assert.rejects(second.joined(), ImageSetReleasedError);
  for (const p of parts) p.release();
});
