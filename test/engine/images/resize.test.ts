// resizeBicubic vs Pillow 12.3 `Image.resize(size, BICUBIC)` on pseudo-random RGB images: the sha256
// of each output was printed by Pillow from the same LCG input.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { resizeBicubic } from "../../../src/engine/images/resize.js";

function lcg(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff; // exact low 31 bits, like Python's ints
    out[i] = (s >> 16) & 0xff;
  }
  return out;
}

const PIL_CASES = [
  {
    src: [37, 23],
    dst: [56, 28],
    seed: 1,
    sha256: "62abb3b91b731fc39715cfcbfcc84095e01858de210001ad1f8f039b85c04da0",
  },
  {
    src: [333, 127],
    dst: [336, 112],
    seed: 2,
    sha256: "2220bf75571fca37e127fd6bf6d97bd6db43a866fb0e923cf5b894d8b79f0fae",
  },
  {
    src: [20, 30],
    dst: [56, 84],
    seed: 3,
    sha256: "da82136bed5a787a1ec914ab48ff2ba418fb6fb06f1160fd7fa687dd7c458d2d",
  },
  {
    src: [250, 42],
    dst: [252, 56],
    seed: 4,
    sha256: "2104ad84967c6e731ca6a9f52995ca83cc3b0a45712a0ed86c3f359eee95f65e",
  },
  {
    src: [400, 300],
    dst: [84, 56],
    seed: 5,
    sha256: "461c1aa761b5ca3ef1f726bb1fd707ba2467801e5fe9bef70d86f307c006a0f8",
  },
  {
    src: [64, 64],
    dst: [64, 28],
    seed: 6,
    sha256: "5fc5a8539bbe989dfa47e9ce2e0a542a8f2319f9cf8f057bd4dd81d771c1bb0e",
  },
] as const;

for (const c of PIL_CASES) {
  test(`bit-exact with Pillow: ${c.src.join("x")} → ${c.dst.join("x")}`, () => {
    const [w, h] = c.src;
    const out = resizeBicubic({ width: w, height: h, data: lcg(w * h * 3, c.seed) }, c.dst[0], c.dst[1]);
    assert.deepEqual([out.width, out.height], c.dst);
    assert.equal(createHash("sha256").update(out.data).digest("hex"), c.sha256);
  });
}

test("same size is the identity (and a copy)", () => {
  const data = lcg(13 * 7 * 3, 9);
  const out = resizeBicubic({ width: 13, height: 7, data }, 13, 7);
  assert.deepEqual(out.data, data);
  assert.notEqual(out.data, data);
});

test("a constant image stays constant at any scale", () => {
  const data = new Uint8Array(31 * 17 * 3).fill(201);
  for (const [w, h] of [
    [5, 3],
    [62, 34],
    [31, 90],
  ] as const) {
    assert.ok(resizeBicubic({ width: 31, height: 17, data }, w, h).data.every((v) => v === 201));
  }
});

test("invalid target sizes are rejected", () => {
  const image = { width: 2, height: 2, data: new Uint8Array(12) };
  assert.throws(() => resizeBicubic(image, 0, 2), RangeError);
  assert.throws(() => resizeBicubic(image, 2.5, 2), RangeError);
});
