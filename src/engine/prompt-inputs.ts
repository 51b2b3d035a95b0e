// Chat messages + a request's images → the model's prompt tensors: token ids (request text never
// becomes control tokens; image pads expanded per image grid), M-RoPE position ids and the
// preprocessed pixels. The prompt's length is known from the image headers, so a prompt over the
// limit is refused before any pixel is decoded.

import { EngineError } from "./errors.js";
import type { ImageSet } from "./images/image-set.js";
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
  // Until the engine encodes image by image from images.patches(i): the set's images in one tensor.
  const pixels = images && grids.length > 0 ? await images.joined() : undefined;
  return {
    text,
    tensors: {
      inputIds: ids,
      positions: positions.ids,
      ropeDelta: positions.ropeDelta,
      ...(pixels ? { pixels: { values: pixels.values, grids: pixels.grids } } : {}),
    },
    imageDigests: images ? [...images.digests] : [],
  };
}
