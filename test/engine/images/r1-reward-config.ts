// preprocessor_config.json as the training kit writes it (inputs.py `preprocessor_config()`), the
// settings the golden fixtures were produced with.

export const R1_REWARD_PREPROCESSOR = {
  image_processor_type: "Qwen2VLImageProcessor",
  do_resize: true,
  resample: 3,
  do_rescale: true,
  rescale_factor: 1 / 255,
  do_normalize: true,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
  do_convert_rgb: true,
  min_pixels: 4 * 28 * 28,
  max_pixels: 640 * 28 * 28,
  size: { shortest_edge: 4 * 28 * 28, longest_edge: 640 * 28 * 28 },
  patch_size: 14,
  temporal_patch_size: 2,
  merge_size: 2,
} as const;
