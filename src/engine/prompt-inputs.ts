// Chat messages + image bytes → the model's prompt tensors: the rendered chat, image pads expanded
// per image grid, token ids, preprocessed pixels and M-RoPE position ids.

import { createHash } from "node:crypto";
import type { PreprocessorConfig } from "./images/config.js";
import { decodeImage } from "./images/decode.js";
import { preprocessImages } from "./images/preprocess.js";
import type { PromptTensors } from "./model.js";
import { mropePositions } from "./positions.js";
import { type ChatMessage, expandImagePads, type TextCodec } from "./tokenizer.js";

export interface PreparedPrompt {
  text: string;
  tensors: PromptTensors;
  imageDigests: string[];
}

export interface PromptLimits {
  /** Decoded-image size refused before decoding (decompression bombs). */
  maxImagePixels: number;
  /** Prompt tokens at most (the model's context minus room to generate). */
  maxPromptTokens: number;
}

export class PromptTooLongError extends Error {
  constructor(
    readonly tokens: number,
    readonly limit: number,
  ) {
    super(`the prompt has ${tokens} tokens, over the limit of ${limit}`);
    this.name = "PromptTooLongError";
  }
}

export async function preparePrompt(
  codec: TextCodec,
  preprocessor: PreprocessorConfig | undefined,
  messages: readonly ChatMessage[],
  images: readonly Uint8Array[],
  limits: PromptLimits,
): Promise<PreparedPrompt> {
  // The host refuses images for a checkpoint without a vision encoder; one with it has this file.
  if (images.length && !preprocessor)
    throw new Error("images need the checkpoint's preprocessor_config.json");
  const decoded = [];
  for (const [i, bytes] of images.entries()) {
    try {
      decoded.push(await decodeImage(bytes, { maxInputPixels: limits.maxImagePixels }));
    } catch (err) {
      (err as { imageIndex?: number }).imageIndex = i;
      throw err;
    }
  }
  const pixels = decoded.length && preprocessor ? preprocessImages(decoded, preprocessor) : undefined;
  const grids = pixels?.gridThw ?? [];
  // Without images there are no pads to expand or place, so the merge size never matters then.
  const mergeSize = preprocessor?.mergeSize ?? 1;
  const text = expandImagePads(codec.renderChat(messages, true), grids, mergeSize);
  const inputIds = codec.encode(text);
  if (inputIds.length > limits.maxPromptTokens)
    throw new PromptTooLongError(inputIds.length, limits.maxPromptTokens);
  const positions = mropePositions(inputIds, grids, codec.imagePadId, mergeSize);
  return {
    text,
    tensors: {
      inputIds,
      positions: positions.ids,
      ropeDelta: positions.ropeDelta,
      ...(pixels ? { pixels: { values: pixels.pixelValues, grids: pixels.gridThw } } : {}),
    },
    imageDigests: images.map((bytes) => createHash("sha256").update(bytes).digest("hex")),
  };
}
