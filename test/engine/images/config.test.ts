// parsePreprocessorConfig: the training kit's file parses; bad fields fail naming file and field.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePreprocessorConfig } from "../../../src/engine/images/config.js";
import { R1_REWARD_PREPROCESSOR } from "./r1-reward-config.js";

test("the training kit's preprocessor_config.json parses", () => {
  assert.deepEqual(parsePreprocessorConfig(R1_REWARD_PREPROCESSOR), {
    minPixels: 3136,
    maxPixels: 501760,
    patchSize: 14,
    temporalPatchSize: 2,
    mergeSize: 2,
    rescaleFactor: 1 / 255,
    imageMean: [0.48145466, 0.4578275, 0.40821073],
    imageStd: [0.26862954, 0.26130258, 0.27577711],
  });
});

test("min/max pixels fall back to size.shortest_edge/longest_edge", () => {
  const { min_pixels: _min, max_pixels: _max, ...rest } = R1_REWARD_PREPROCESSOR;
  const config = parsePreprocessorConfig({ ...rest, size: { shortest_edge: 100, longest_edge: 200_000 } });
  assert.deepEqual([config.minPixels, config.maxPixels], [100, 200_000]);
});

test("bad fields name the file and the field", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ image_std: [0.2, 0, 0.3] }, /ckpt\/preprocessor_config\.json: field 'image_std'/],
    [{ image_mean: [0.5, 0.5] }, /field 'image_mean'/],
    [{ patch_size: 14.5 }, /field 'patch_size'/],
    [{ resample: 2 }, /field 'resample': only 3/],
    [{ max_pixels: "lots" }, /field 'max_pixels'/],
    [{ min_pixels: 10_000_000 }, /field 'min_pixels'/],
    [{ do_rescale: "yes" }, /field 'do_rescale'/],
  ];
  for (const [patch, pattern] of bad) {
    assert.throws(
      () => parsePreprocessorConfig({ ...R1_REWARD_PREPROCESSOR, ...patch }, "ckpt/preprocessor_config.json"),
      pattern,
    );
  }
  assert.throws(() => parsePreprocessorConfig([]), /field '\(root\)'/);
});
