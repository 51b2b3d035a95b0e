// Chat messages + a request's images → the model's prompt tensors: token ids (request text never
// becomes control tokens; image pads expanded per image grid), M-RoPE position ids and the images,
// whose pixels are decoded only when a prefill needs them (never for an image already in a cached
// prefix or in the encoder cache). The prompt's length is known from the image headers, so a prompt
// over the limit is refused before any pixel is decoded.

import { EngineError } from "./errors.js";
import type { ImageSet } from "./images/image-set.js";
import type { PromptImage, PromptTensors } from "./model.js";
import { mropePositions } from "./positions.js";
import type { ChatMessage, TextCodec } from "./tokenizer.js";

export interface PreparedPrompt {
  text: string;
  tensors: PromptTensors;
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
  const prompted: PromptImage[] | undefined = images
    ? grids.map((grid, i) => ({
        digest: images.digests[i] as string,
        grid,
        tokens: imagePads[i] as number,
        patches: () => images.patches(i),
      }))
    : undefined;
  return {
    text,
    tensors: {
      inputIds: ids,
      positions: positions.ids,
      ropeDelta: positions.ropeDelta,
      ...(prompted ? { images: prompted } : {}),
    },
  };
}
