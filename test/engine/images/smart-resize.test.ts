// smartResize vs values computed by hand from HF's smart_resize (Python round/floor/ceil).

import assert from "node:assert/strict";
import { test } from "node:test";
import { ImageSizeError } from "../../../src/engine/images/errors.js";
import { pyRound, smartResize } from "../../../src/engine/images/smart-resize.js";

const MIN = 4 * 28 * 28;
const MAX = 640 * 28 * 28;

test("pyRound rounds half to even", () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001, -1.5].map(pyRound), [0, 2, 2, 4, 2, 3, -2]);
});

test("70 px sides (2.5 factors) round down to 56; 84 stays", () => {
  assert.deepEqual(smartResize(70, 70, 28, MIN, MAX), [56, 56]);
  assert.deepEqual(smartResize(84, 84, 28, MIN, MAX), [84, 84]);
  assert.deepEqual(smartResize(126, 98, 28, MIN, MAX), [112, 112]); // 4.5 → 4, 3.5 → 4
});

test("tiny images are upscaled to at least min_pixels", () => {
  // beta = sqrt(3136 / 600); ceil(30·beta/28) = 3, ceil(20·beta/28) = 2
  assert.deepEqual(smartResize(30, 20, 28, MIN, MAX), [84, 56]);
  // rounds to 0×28 but the min branch recovers: beta = sqrt(3136/1) = 56 → 2 factors each
  assert.deepEqual(smartResize(1, 1, 28, MIN, MAX), [56, 56]);
});

test("huge images are downscaled under max_pixels", () => {
  // beta = sqrt(4000·3000 / 501760) ≈ 4.8904; floor(3000/beta/28) = 21, floor(4000/beta/28) = 29
  const [h, w] = smartResize(3000, 4000, 28, MIN, MAX);
  assert.deepEqual([h, w], [588, 812]);
  assert.ok(h * w <= MAX);
  // a long thin strip keeps at least one factor on the short side
  assert.deepEqual(smartResize(28, 5000, 28, MIN, MAX), [28, 5012]);
  // beta = sqrt(1.9e6 / 501760) ≈ 1.946; floor(100/beta/28) = 1, floor(19000/beta/28) = 348
  assert.deepEqual(smartResize(100, 19_000, 28, MIN, MAX), [28, 9744]);
});

test("aspect ratio over 200 is rejected like HF; exactly 200 is accepted", () => {
  assert.throws(() => smartResize(10, 2001, 28, MIN, MAX), ImageSizeError);
  assert.throws(
    () => smartResize(10, 2001, 28, MIN, MAX),
    /aspect ratio must be smaller than 200, got 200.1/,
  );
  // h rounds to 0 → min branch: beta = sqrt(3136/20000); ceil(10·beta/28) = 1, ceil(2000·beta/28) = 29
  assert.deepEqual(smartResize(10, 2000, 28, MIN, MAX), [28, 812]);
  assert.throws(() => smartResize(0, 10), ImageSizeError);
});
