// Parses the fields of a checkpoint's preprocessor_config.json (HF Qwen2-VL image processor keys)
// that the server's preprocessing uses; errors name the file and the field.

import { CheckpointError } from "../checkpoint.js";

export const PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json";

export interface PreprocessorConfig {
  minPixels: number;
  maxPixels: number;
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
  /** 1 when do_rescale is false. */
  rescaleFactor: number;
  /** Per channel (R, G, B); undefined when do_normalize is false. */
  imageMean: [number, number, number] | undefined;
  imageStd: [number, number, number] | undefined;
}

type Json = Record<string, unknown>;

export function parsePreprocessorConfig(json: unknown, file = PREPROCESSOR_CONFIG_NAME): PreprocessorConfig {
  const fail = (field: string, message: string) => new CheckpointError(file, field, message);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw fail("(root)", "expected a JSON object");
  }
  const o = json as Json;

  const bool = (key: string, fallback: boolean): boolean => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") throw fail(key, `expected a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  const positiveInt = (key: string, v: unknown): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw fail(key, `expected a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const triple = (key: string, positive: boolean): [number, number, number] => {
    const v = o[key];
    const ok = (x: unknown): x is number =>
      typeof x === "number" && Number.isFinite(x) && (!positive || x > 0);
    if (!Array.isArray(v) || v.length !== 3 || !v.every(ok)) {
      throw fail(key, `expected 3 ${positive ? "positive " : ""}numbers, got ${JSON.stringify(v)}`);
    }
    const [a, b, c] = v as [number, number, number];
    return [a, b, c];
  };

  // Only the path the model was trained with is implemented; anything else must fail loudly.
  if (!bool("do_resize", true))
    throw fail("do_resize", "must be true (resizing to multiples of 28 is required)");
  if (o.resample !== undefined && o.resample !== 3) {
    throw fail("resample", `only 3 (PIL bicubic) is supported, got ${JSON.stringify(o.resample)}`);
  }
  if (!bool("do_convert_rgb", true)) throw fail("do_convert_rgb", "must be true");

  // HF lets min_pixels/max_pixels override size.shortest_edge/longest_edge.
  const size = o.size;
  const sizeObj = typeof size === "object" && size !== null && !Array.isArray(size) ? (size as Json) : {};
  const minKey = o.min_pixels !== undefined ? "min_pixels" : "size.shortest_edge";
  const maxKey = o.max_pixels !== undefined ? "max_pixels" : "size.longest_edge";
  const minPixels = positiveInt(minKey, o.min_pixels ?? sizeObj.shortest_edge);
  const maxPixels = positiveInt(maxKey, o.max_pixels ?? sizeObj.longest_edge);
  if (minPixels > maxPixels) throw fail(minKey, `${minPixels} is larger than ${maxKey} ${maxPixels}`);

  let rescaleFactor = 1;
  if (bool("do_rescale", true)) {
    const v = o.rescale_factor ?? 1 / 255;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw fail("rescale_factor", `expected a positive number, got ${JSON.stringify(v)}`);
    }
    rescaleFactor = v;
  }
  const normalize = bool("do_normalize", true);

  return {
    minPixels,
    maxPixels,
    patchSize: positiveInt("patch_size", o.patch_size ?? 14),
    temporalPatchSize: positiveInt("temporal_patch_size", o.temporal_patch_size ?? 2),
    mergeSize: positiveInt("merge_size", o.merge_size ?? 2),
    rescaleFactor,
    imageMean: normalize ? triple("image_mean", false) : undefined,
    imageStd: normalize ? triple("image_std", true) : undefined,
  };
}
