// A request's images: their pixel limits are checked from the headers before any pixel is decoded
// (a decompression bomb is refused in microseconds, naming it); they are decoded once however many
// generations share them; a released set stops decoding; and the process-wide pixel budget makes
// decodes wait their turn, first come first served.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import type { EngineError } from "../../../src/engine/errors.js";
import { parsePreprocessorConfig } from "../../../src/engine/images/config.js";
import { ImageSet } from "../../../src/engine/images/image-set.js";
import { PixelBudget } from "../../../src/engine/images/pixel-budget.js";
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
  const pixels = await set.pixels();
  assert.deepEqual(pixels.gridThw, grids);
  assert.equal(pixels.pixelValues.length, grids.reduce((n, [t, h, w]) => n + t * h * w, 0) * pixels.rowSize);
});

test("the pixels are decoded once, however many generations ask", async () => {
  const set = ImageSet.of([await png(64, 64)], config);
  const [a, b] = await Promise.all([set.pixels(), set.pixels()]);
  assert.equal(a, b);
  assert.equal(await set.pixels(), a);
});

test("a released set stops decoding and says so", async () => {
  const set = ImageSet.of([await png(64, 64), await png(64, 64)], config);
  set.release();
  await assert.rejects(set.pixels(), (err: EngineError) => err.code === "cancelled");
});

test("the pixel budget: what does not fit waits, first come first served, until given back", async () => {
  const budget = new PixelBudget(100);
  const order: string[] = [];
  const a = await budget.acquire(60);
  const b = budget.acquire(50).then((giveBack) => {
    order.push("b");
    return giveBack;
  });
  const c = budget.acquire(10).then((giveBack) => {
    order.push("c");
    return giveBack;
  });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], "b does not fit; c fits but does not overtake b");
  assert.equal(budget.waiting, 2);
  a();
  a(); // giving back twice gives back once
  const giveBackB = await b;
  const giveBackC = await c;
  assert.deepEqual(order, ["b", "c"]);
  assert.equal(budget.inUse, 60);
  giveBackB();
  giveBackC();
  assert.equal(budget.inUse, 0);
  const huge = await budget.acquire(1000);
  assert.equal(budget.inUse, 100, "more than the budget takes the whole budget");
  huge();
});
