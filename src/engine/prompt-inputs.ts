// Chat messages + a request's images → the model's prompt tensors: token ids (request text never
// becomes control tokens; image pads expanded per image grid), M-RoPE position ids and the
// preprocessed pixels. The prompt's length is known from the image headers, so a prompt over the
// limit is refused before any pixel is decoded.

import { EngineError } from "./errors.js";
import type { ImageSet } from "./images/image-set.js";
import type { GridThw } from "./images/preprocess.js";
import type { PromptTensors } from "./model.js";
import { mropePositions } from "./positions.js";
import type { ChatMessage, TextCodec } from "./tokenizer.js";

export interface PreparedPrompt {
  text: string;
  tensors: PromptTensors;
  imageDigests: string[];
}

export interface PromptLimits {
  /** Prompt tokens at most (the model's context minus room to generate). */
  maxPromptTokens: number;
}

export class PromptTooLongError extends EngineError {
  constructor(
    readonly tokens: number,
    readonly limit: number,
  ) {
    super("prompt_too_long", `the prompt has ${tokens} tokens, over the limit of ${limit}`);
    this.name = "PromptTooLongError";
  }
}

export async function preparePrompt(
  codec: TextCodec,
  messages: readonly ChatMessage[],
  images: ImageSet | undefined,
  mergeSize: number,
  limits: PromptLimits,
): Promise<PreparedPrompt> {
  const grids = images ? (await images.scan()).grids : [];
  const imagePads = grids.map(([t, h, w]) => (t * h * w) / (mergeSize * mergeSize));
  const { text, ids } = codec.encodeChat(messages, imagePads);
  if (ids.length > limits.maxPromptTokens) throw new PromptTooLongError(ids.length, limits.maxPromptTokens);
  const positions = mropePositions(ids, grids, codec.imagePadId, mergeSize);
  const pixels = images && grids.length > 0 ? await joinPatches(images, grids) : undefined;
  return {
    text,
    tensors: {
      inputIds: ids,
      positions: positions.ids,
      ropeDelta: positions.ropeDelta,
      ...(pixels ? { pixels: { values: pixels, grids } } : {}),
    },
    imageDigests: images ? [...images.digests] : [],
  };
}

/**
 * Every image's patches in one tensor, as the model takes them today. Each image is copied in as soon
 * as it is ready and its patches released at once, so the budget holds one request's images only
 * while they are decoded; the joined tensor itself is outside the budget until the request ends.
 */
async function joinPatches(images: ImageSet, grids: readonly GridThw[]): Promise<Float32Array> {
  if (grids.length === 1) {
    const only = await images.patches(0);
    const values = only.pixelValues;
    only.release();
    return values;
  }
  const rows = grids.map(([t, h, w]) => t * h * w);
  const total = rows.reduce((a, b) => a + b, 0);
  const rowValues = 1176; // 3 channels × 2 frames × 14 × 14, as model.ts takes them
  const joined = new Float32Array(total * rowValues);
  let offset = 0;
  const offsets = rows.map((n) => {
    const at = offset;
    offset += n * rowValues;
    return at;
  });
  await Promise.all(
    grids.map(async (_, i) => {
      const image = await images.patches(i);
      try {
        if (image.pixelValues.length !== (rows[i] as number) * rowValues)
          throw new EngineError(
            "internal",
            `images[${i}]: ${image.pixelValues.length} patch values, expected ${rows[i]} rows`,
          );
        joined.set(image.pixelValues, offsets[i]);
      } finally {
        image.release();
      }
    }),
  );
  return joined;
}
